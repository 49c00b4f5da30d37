// Damaged traces: each problem gets its one-line error naming the chunk or field; nothing crashes.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "tests/trace_format/trace_test_util.h"
#include "trace_format/record_codec.h"
#include "trace_format/trace_reader.h"
#include "trace_format/trace_writer.h"
#include "trace_format/verify.h"

namespace hlrr::trace {
namespace {

using testing::make_setup;
using testing::RecordGenerator;
using testing::TempFile;
using testing::with_index;

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TempFile file;
    WriterOptions options;
    options.chunk_bytes = 4096;
    testing::write_trace(file.path(), make_setup(), RecordGenerator(5).records(1000),
                         End{EndKind::kCompleted, ""}, options);
    bytes_ = testing::read_file(file.path());
    auto reader = TraceReader::open_memory(bytes_);
    ASSERT_TRUE(reader);
    chunks_ = (*reader)->chunks();
    index_offset_ = (*reader)->index_offset();
    ASSERT_GT(chunks_.size(), 5u);
  }

  static std::string one_line(const std::string& s) {
    return s.find('\n') == std::string::npos ? s : "MULTILINE";
  }

  std::vector<uint8_t> bytes_;
  std::vector<ChunkInfo> chunks_;
  uint64_t index_offset_ = 0;
};

TEST_F(CorruptionTest, FlippedPayloadByteIsAChecksumMismatchNamingTheChunk) {
  bytes_[chunks_[3].offset + kChunkHeaderSize + 10] ^= 0x40;
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_TRUE(reader);  // the index is intact: other chunks stay readable
  const std::string want =
      "chunk 3 at offset " + std::to_string(chunks_[3].offset) + ": checksum mismatch";
  auto chunk = (*reader)->read_chunk(3);
  ASSERT_FALSE(chunk);
  EXPECT_EQ(chunk.error().message, want);
  EXPECT_TRUE((*reader)->read_chunk(4));
  auto exit = (*reader)->exit_at(chunks_[3].first_exit);
  ASSERT_FALSE(exit);
  EXPECT_EQ(exit.error().message, want);
  VerifyResult result = verify(**reader);
  EXPECT_EQ(result.status, VerifyStatus::kCorrupt);
  EXPECT_EQ(result.message, want);
}

TEST_F(CorruptionTest, FlippedChunkHeaderByte) {
  bytes_[chunks_[2].offset + 20] ^= 1;
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(verify(**reader).message, "chunk 2 at offset " + std::to_string(chunks_[2].offset) +
                                          ": chunk header checksum mismatch");
}

TEST_F(CorruptionTest, CutOffFooterIsTruncatedAndFullyRecovered) {
  bytes_.resize(bytes_.size() - 10);
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_TRUE(reader);
  EXPECT_TRUE((*reader)->truncated());
  EXPECT_EQ((*reader)->chunks(), chunks_);
  EXPECT_EQ((*reader)->end()->kind, EndKind::kCompleted);  // the End record was in a complete chunk
  VerifyResult result = verify(**reader);
  EXPECT_EQ(result.status, VerifyStatus::kTruncated);
  EXPECT_EQ(result.message, "truncated (footer missing): " + std::to_string(chunks_.size()) +
                                " complete chunks, 1000 exits recovered");
}

TEST_F(CorruptionTest, DamagedFooterIsTruncatedAndRecovered) {
  bytes_[bytes_.size() - 20] ^= 0xff;
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->truncation_note(),
            "truncated (footer damaged): " + std::to_string(chunks_.size()) +
                " complete chunks, 1000 exits recovered");
}

TEST_F(CorruptionTest, DamagedChunkStopsRecoveryAtIt) {
  bytes_.resize(bytes_.size() - 1);  // no footer
  bytes_[chunks_[4].offset + kChunkHeaderSize + 3] ^= 0x10;
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->chunks().size(), 4u);
  EXPECT_EQ((*reader)->truncation_note(), "truncated (footer missing): 4 complete chunks, " +
                                              std::to_string(chunks_[4].first_exit) +
                                              " exits recovered; stopped at chunk 4 at offset " +
                                              std::to_string(chunks_[4].offset) +
                                              ": checksum mismatch");
}

TEST_F(CorruptionTest, WrongMagic) {
  bytes_[1] = 'X';
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().message, "not an hlrr trace (bad magic)");
  EXPECT_EQ(TraceReader::open_memory({}).error().message, "not an hlrr trace (bad magic)");
  TempFile other;
  testing::write_file(other.path(), {'E', 'L', 'F', 0});
  EXPECT_EQ(verify(other.path()).message, "not an hlrr trace (bad magic)");
}

TEST_F(CorruptionTest, FutureMajorVersionIsRefusedInOneLine) {
  uint16_t major = 3, minor = 0;
  std::memcpy(&bytes_[8], &major, 2);
  std::memcpy(&bytes_[10], &minor, 2);
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().message,
            "trace format 3.0 is newer than this hlrr reads (1.x): upgrade hlrr");
}

TEST_F(CorruptionTest, NewerMinorVersionIsRead) {
  // A newer minor version only adds what we may ignore; the header checksum must still match.
  TempFile file;
  std::vector<uint8_t> header =
      encode_file_header(FileHeader{kFormatMajor, kFormatMinor + 5, "hlrr 0.1.0"});
  ASSERT_EQ(header.size(), chunks_[0].offset);
  std::copy(header.begin(), header.end(), bytes_.begin());
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->header().minor, kFormatMinor + 5);
}

TEST_F(CorruptionTest, HeaderChecksum) {
  bytes_[18] ^= 1;  // inside the writer version string
  EXPECT_EQ(TraceReader::open_memory(bytes_).error().message, "trace header: checksum mismatch");
}

TEST_F(CorruptionTest, CorruptIndexBytes) {
  bytes_[index_offset_ + 30] ^= 0x55;
  auto reader = TraceReader::open_memory(bytes_);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().message,
            "index at offset " + std::to_string(index_offset_) + ": checksum mismatch");
  // The data is still there: a forced recovery scan salvages it.
  ReaderOptions salvage;
  salvage.force_recovery = true;
  auto salvaged = TraceReader::open_memory(bytes_, salvage);
  ASSERT_TRUE(salvaged);
  EXPECT_EQ((*salvaged)->chunks(), chunks_);
}

// Rewrites the index with `edit` applied and a correct checksum, so only content checks catch it.
TEST_F(CorruptionTest, IndexContentErrorsNameTheEntryOrChunk) {
  const std::string index = "index at offset " + std::to_string(index_offset_);
  {
    auto chunks = chunks_;
    chunks[2].first_exit += 1;
    auto reader = TraceReader::open_memory(with_index(bytes_, index_offset_, chunks));
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().message, index + ": entry 2: first exit " +
                                          std::to_string(chunks[2].first_exit) + ", expected " +
                                          std::to_string(chunks_[2].first_exit));
  }
  {
    auto chunks = chunks_;
    std::swap(chunks[3].offset, chunks[4].offset);
    auto reader = TraceReader::open_memory(with_index(bytes_, index_offset_, chunks));
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().message,
              index + ": entry 4: chunk offset " + std::to_string(chunks[4].offset) +
                  ", expected at least " + std::to_string(chunks[3].offset + kChunkHeaderSize));
  }
  {
    auto chunks = chunks_;
    chunks[3].first_instruction_count += 1;
    auto reader = TraceReader::open_memory(with_index(bytes_, index_offset_, chunks));
    ASSERT_TRUE(reader);
    VerifyResult result = verify(**reader);
    EXPECT_EQ(result.status, VerifyStatus::kCorrupt);
    EXPECT_TRUE(result.message.starts_with(
        "chunk 3 at offset " + std::to_string(chunks_[3].offset) + ": header (first exit "))
        << result.message;
    EXPECT_NE(result.message.find("disagrees with the index"), std::string::npos);
  }
  {
    auto chunks = chunks_;
    chunks[2].offset += 1;  // still ordered, but points into the middle of a chunk
    auto reader = TraceReader::open_memory(with_index(bytes_, index_offset_, chunks));
    ASSERT_TRUE(reader);
    EXPECT_EQ(verify(**reader).message,
              "index entry 2: chunk offset " + std::to_string(chunks[2].offset) +
                  ", but chunk 1 at offset " + std::to_string(chunks[1].offset) + " ends at " +
                  std::to_string(chunks_[2].offset));
    EXPECT_EQ((*reader)->read_chunk(2).error().message,
              "chunk 2 at offset " + std::to_string(chunks[2].offset) + ": bad chunk magic");
  }
  {
    auto chunks = chunks_;
    chunks.pop_back();  // the index forgets the last chunk
    auto reader = TraceReader::open_memory(with_index(bytes_, index_offset_, chunks));
    ASSERT_TRUE(reader);
    EXPECT_EQ(verify(**reader).message, "chunk " + std::to_string(chunks.size() - 1) +
                                            " at offset " + std::to_string(chunks.back().offset) +
                                            ": ends at " + std::to_string(chunks_.back().offset) +
                                            ", but the index starts at " +
                                            std::to_string(index_offset_));
  }
}

// `cat a.cap a.cap`: the last footer is a valid footer, but of the second copy, so its index does
// not end where it says. The chunk scan recovers the first copy whole, as for a missing footer.
TEST_F(CorruptionTest, ATraceFollowedByAnotherTracesFooterIsRecoveredByTheChunkScan) {
  uint64_t exits = 0;
  for (const ChunkInfo& c : chunks_) exits += c.exit_count;
  std::vector<uint8_t> twice = bytes_;
  twice.insert(twice.end(), bytes_.begin(), bytes_.end());
  auto reader = TraceReader::open_memory(twice);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_TRUE((*reader)->truncated());
  EXPECT_EQ((*reader)->chunks(), chunks_);
  EXPECT_EQ((*reader)->end()->kind, EndKind::kCompleted);
  VerifyResult result = verify(**reader);
  EXPECT_EQ(result.status, VerifyStatus::kTruncated) << result.message;
  EXPECT_EQ(result.message, "truncated (footer does not fit the file: its index ends at " +
                                std::to_string(bytes_.size() - kFooterSize) +
                                ", the footer starts at " +
                                std::to_string(2 * bytes_.size() - kFooterSize) +
                                "): " + std::to_string(chunks_.size()) + " complete chunks, " +
                                std::to_string(exits) + " exits recovered");
}

TEST_F(CorruptionTest, RandomDamageNeverCrashes) {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 300; ++round) {
    std::vector<uint8_t> damaged = bytes_;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i)
      damaged[rng() % damaged.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    if (rng() % 3 == 0) damaged.resize(rng() % damaged.size());
    for (bool checksums : {true, false}) {
      ReaderOptions options;
      options.verify_checksums = checksums;
      auto reader = TraceReader::open_memory(damaged, options);
      if (!reader) {
        EXPECT_EQ(one_line(reader.error().message), reader.error().message);
        continue;
      }
      VerifyResult result = verify(**reader);
      EXPECT_EQ(one_line(result.message), result.message);
      (void)(*reader)->exit_at(500);
      (void)(*reader)->exit_at_instruction_count(50000);
      (void)(*reader)->setup();
    }
  }
}

}  // namespace
}  // namespace hlrr::trace

namespace hlrr::trace {
namespace {

// A newer minor version may add record kinds (new union members); this reader skips them.
TEST(ForwardCompatibility, UnknownRecordKindsAreSkippedButCounted) {
  RecordEncoder encoder;
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(encoder.encode(End{EndKind::kCompleted, "x"}, bytes));
  ASSERT_TRUE(encoder.encode(CallStart{"f", {}}, bytes));
  // Message layout: segment table (8 bytes), root pointer (8), then the Record's data word whose
  // first 16 bits are the union discriminant (end = 6). 9 is a kind from the future.
  ASSERT_EQ(bytes[16], 6);
  bytes[16] = 9;
  std::vector<uint64_t> words(bytes.size() / 8);
  std::memcpy(words.data(), bytes.data(), bytes.size());
  size_t messages = 0;
  auto records = decode_records(words, &messages);
  ASSERT_TRUE(records) << records.error().message;
  EXPECT_EQ(messages, 2u);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(std::get<CallStart>(records->front()).function, "f");
}

}  // namespace
}  // namespace hlrr::trace
