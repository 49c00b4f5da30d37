// Writing a trace and reading it back gives the same records, in order, by random access too.
#include <gtest/gtest.h>

#include <set>

#include "tests/trace_format/trace_test_util.h"
#include "trace_format/trace_reader.h"
#include "trace_format/trace_writer.h"
#include "trace_format/verify.h"

namespace hlrr::trace {
namespace {

using testing::exits_of;
using testing::make_setup;
using testing::RecordGenerator;
using testing::TempFile;

class RoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    records_ = RecordGenerator(7).records(10000);
    exits_ = exits_of(records_);
    // Small chunks so that the trace has many of them.
    WriterOptions options;
    options.chunk_bytes = 16 * 1024;
    testing::write_trace(file_.path(), setup_, records_,
                         End{EndKind::kGuestFault, "guest panicked: boom"}, options);
    auto reader = TraceReader::open(file_.path());
    ASSERT_TRUE(reader) << reader.error().message;
    reader_ = std::move(*reader);
  }

  TempFile file_;
  trace::Setup setup_ = make_setup();
  std::vector<Record> records_;
  std::vector<Exit> exits_;
  std::unique_ptr<TraceReader> reader_;
};

TEST_F(RoundTripTest, HeaderAndIndex) {
  EXPECT_EQ(reader_->header().major, kFormatMajor);
  EXPECT_EQ(reader_->header().minor, kFormatMinor);
  EXPECT_EQ(reader_->header().writer_version, "hlrr 0.1.0");
  EXPECT_FALSE(reader_->truncated());
  EXPECT_EQ(reader_->exit_count(), 10000u);
  ASSERT_GT(reader_->chunks().size(), 10u);
  EXPECT_EQ(reader_->chunks()[0].exit_count, 0u);  // Setup alone in chunk 0
  EXPECT_EQ(reader_->chunks()[0].record_count, 1u);
  EXPECT_EQ(reader_->chunks()[1].first_exit, 0u);
}

TEST_F(RoundTripTest, SetupAndEndFieldByField) {
  auto setup = reader_->setup();
  ASSERT_TRUE(setup) << setup.error().message;
  EXPECT_EQ(setup->elf, setup_.elf);
  EXPECT_EQ(setup->config, setup_.config);
  EXPECT_EQ(setup->cpu, setup_.cpu);
  EXPECT_EQ(setup->memory_layout, setup_.memory_layout);
  EXPECT_EQ(setup->initial_registers, setup_.initial_registers);
  EXPECT_EQ(setup->initial_memory, setup_.initial_memory);
  EXPECT_EQ(setup->start_time_ns, 1763800000123456789);
  EXPECT_EQ(*setup, setup_);
  auto end = reader_->end();
  ASSERT_TRUE(end);
  EXPECT_EQ(end->kind, EndKind::kGuestFault);
  EXPECT_EQ(end->message, "guest panicked: boom");
}

TEST_F(RoundTripTest, IterationReturnsEveryRecordInOrder) {
  std::vector<Record> read;
  ASSERT_TRUE(reader_->for_each_record([&](const Record& r) {
    read.push_back(r);
    return true;
  }));
  ASSERT_EQ(read.size(), records_.size() + 2);
  EXPECT_EQ(std::get<trace::Setup>(read.front()), setup_);
  EXPECT_TRUE(std::holds_alternative<End>(read.back()));
  for (size_t i = 0; i < records_.size(); ++i) {
    ASSERT_EQ(read[i + 1].index(), records_[i].index()) << "record " << i;
    ASSERT_TRUE(read[i + 1] == records_[i]) << "record " << i;
  }
  // The generator made every kind, so the comparison covered them all.
  std::set<size_t> kinds;
  for (const Record& r : read) kinds.insert(r.index());
  EXPECT_EQ(kinds.size(), std::variant_size_v<Record>);
}

TEST_F(RoundTripTest, RandomAccessByExitNumber) {
  for (uint64_t seq : {0ul, 1ul, 2ul, 999ul, 1000ul, 4321ul, 9998ul, 9999ul}) {
    auto exit = reader_->exit_at(seq);
    ASSERT_TRUE(exit) << exit.error().message;
    EXPECT_EQ(*exit, exits_[seq]) << "exit " << seq;  // full registers rebuilt from deltas
  }
  auto past = reader_->exit_at(10000);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().message, "exit 10000 is not in the trace (10000 exits)");
}

TEST_F(RoundTripTest, RandomAccessByInstructionCount) {
  for (uint64_t seq : {0ul, 17ul, 5000ul, 9999ul}) {
    const Exit& want = exits_[seq];
    auto exact = reader_->exit_at_instruction_count(want.instruction_count);
    ASSERT_TRUE(exact) << exact.error().message;
    EXPECT_EQ(exact->sequence, seq);
    // Between this exit and the next: still this one.
    auto between = reader_->exit_at_instruction_count(want.instruction_count + 10);
    ASSERT_TRUE(between);
    EXPECT_EQ(*between, want);
  }
  auto before = reader_->exit_at_instruction_count(exits_[0].instruction_count - 1);
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().message, "no exit at or before instruction count " +
                                        std::to_string(exits_[0].instruction_count - 1));
}

TEST_F(RoundTripTest, VerifiesOk) {
  VerifyResult result = verify(file_.path());
  EXPECT_EQ(result.status, VerifyStatus::kOk) << result.message;
  EXPECT_EQ(result.message,
            "ok: " + std::to_string(reader_->chunks().size()) + " chunks, 10000 exits");
  EXPECT_EQ(result.exits, 10000u);
}

TEST(RoundTrip, EmptyTraceHasSetupAndEnd) {
  TempFile file;
  testing::write_trace(file.path(), make_setup(), {}, End{EndKind::kCompleted, ""});
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->exit_count(), 0u);
  EXPECT_EQ(*(*reader)->setup(), make_setup());
  EXPECT_EQ((*reader)->end()->kind, EndKind::kCompleted);
  EXPECT_FALSE((*reader)->exit_at(0));
  EXPECT_EQ(verify(file.path()).status, VerifyStatus::kOk);
}

// Format 1.2: a debugger's write, with its instruction count, reads back field by field; its
// count takes part in verify's "counts never decrease" rule.
TEST(RoundTrip, DebuggerWritesReadBackAndTheirCountsAreOrdered) {
  TempFile file;
  const DebuggerWrite write{1234, {MemoryWrite{0x103080, {16, 0, 0, 0, 0, 0, 0, 0}}}};
  Exit exit;
  exit.instruction_count = 2000;
  testing::write_trace(file.path(), make_setup(), {write, exit}, End{EndKind::kCompleted, ""});
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->header().minor, kFormatMinor);
  std::vector<Record> read;
  ASSERT_TRUE((*reader)->for_each_record([&](const Record& r) {
    read.push_back(r);
    return true;
  }));
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(std::get<DebuggerWrite>(read[1]), write);
  EXPECT_EQ(verify(**reader).status, VerifyStatus::kOk);

  exit.instruction_count = 1000;  // before the write: the count goes back
  testing::write_trace(file.path(), make_setup(), {write, exit}, End{EndKind::kCompleted, ""});
  const VerifyResult result = verify(file.path());
  EXPECT_EQ(result.status, VerifyStatus::kCorrupt);
  EXPECT_NE(result.message.find("instruction count 1000 goes back from 1234"), std::string::npos)
      << result.message;
}

// Format 1.3: the last x87 instruction's fop/fip/fdp, in a chunk's full registers and in the
// deltas after them (which carry them apart from the 59-bit mask).
TEST(RoundTrip, X87LastInstructionRegistersReadBackFromFullRegistersAndDeltas) {
  TempFile file;
  std::vector<Record> records;
  const uint64_t values[][3] = {
      {0x1ee, 0x100078, 0}, {0x1ee, 0x10007a, 0}, {0x51d, 0x100082, 0x103000}, {0, 0, 0}};
  for (uint64_t i = 0; i < std::size(values); ++i) {
    Exit exit;
    exit.sequence = i;
    exit.instruction_count = 100 * (i + 1);
    exit.registers.rax = i;
    exit.registers.fop = static_cast<uint16_t>(values[i][0]);
    exit.registers.fip = values[i][1];
    exit.registers.fdp = values[i][2];
    records.push_back(exit);
  }
  testing::write_trace(file.path(), make_setup(), records, End{EndKind::kCompleted, ""});
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader) << reader.error().message;
  for (uint64_t i = 0; i < std::size(values); ++i) {
    auto exit = (*reader)->exit_at(i);
    ASSERT_TRUE(exit) << exit.error().message;
    EXPECT_EQ(exit->registers.fop, values[i][0]) << "exit " << i;
    EXPECT_EQ(exit->registers.fip, values[i][1]) << "exit " << i;
    EXPECT_EQ(exit->registers.fdp, values[i][2]) << "exit " << i;
    EXPECT_EQ(exit->registers.rax, i);
  }
}

// Format 1.4: the guest's source files (--embed-sources) in Setup, byte for byte.
TEST(RoundTrip, EmbeddedSourcesReadBackByteForByte) {
  TempFile file;
  trace::Setup setup = make_setup();
  std::vector<uint8_t> binary(70000);
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<uint8_t>(i * 31);
  setup.sources = {{"/src/guest/main.c", {'i', 'n', 't', '\n'}}, {"/src/big.h", binary}};
  testing::write_trace(file.path(), setup, {}, End{EndKind::kCompleted, ""});
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader) << reader.error().message;
  auto read = (*reader)->setup();
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->sources.size(), 2u);
  EXPECT_EQ(read->sources[0].path, "/src/guest/main.c");
  EXPECT_EQ(read->sources[0].content, (std::vector<uint8_t>{'i', 'n', 't', '\n'}));
  EXPECT_EQ(read->sources[1].content, binary);
  EXPECT_EQ(*read, setup);
}

// Format 1.5: a memory delta's pages by checksum only, beside pages with contents.
TEST(RoundTrip, MemoryDeltaPageChecksumsReadBack) {
  TempFile file;
  RecordGenerator gen;
  MemoryDelta delta{0, 77, {Page{0x3000, std::vector<uint8_t>(kPageSize, 7)}}, {}};
  delta.page_digests = {{0x10000, 0x0123456789abcdefull}, {0x7fff000, 42}};
  testing::write_trace(file.path(), make_setup(), {gen.next_exit(), delta},
                       End{EndKind::kCompleted, ""});
  std::vector<MemoryDelta> read;
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader) << reader.error().message;
  ASSERT_TRUE((*reader)->for_each_record([&](const Record& r) {
    if (auto* d = std::get_if<MemoryDelta>(&r)) read.push_back(*d);
    return true;
  }));
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0], delta);
  EXPECT_EQ(read[0].page_digests.at(0).checksum, 0x0123456789abcdefull);
  EXPECT_EQ(verify(file.path()).status, VerifyStatus::kOk);
}

TEST(RoundTrip, UnknownInstructionCountsAreSkippedBySearch) {
  // KVM recordings have no instruction counts: every exit says 0.
  TempFile file;
  RecordGenerator gen;
  std::vector<Record> records;
  for (int i = 0; i < 100; ++i) {
    Exit e = gen.next_exit();
    e.instruction_count = 0;
    records.push_back(e);
  }
  testing::write_trace(file.path(), make_setup(), records, End{EndKind::kCompleted, ""});
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader);
  EXPECT_FALSE((*reader)->exit_at_instruction_count(1000000));
  EXPECT_EQ((*reader)->exit_at(99)->sequence, 99u);
  EXPECT_EQ(verify(file.path()).status, VerifyStatus::kOk);
}

TEST(RoundTrip, FlushWritesCompleteChunksWhileRecording) {
  TempFile file;
  auto writer = TraceWriter::open(file.path(), make_setup());
  ASSERT_TRUE(writer);
  RecordGenerator gen;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*writer)->append(gen.next_exit()));
  ASSERT_TRUE((*writer)->flush());
  // The file now holds a readable (truncated: no footer yet) trace with all 10 exits.
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_TRUE((*reader)->truncated());
  EXPECT_EQ((*reader)->exit_count(), 10u);
  EXPECT_EQ((*reader)->truncation_note(),
            "truncated (footer missing): 2 complete chunks, 10 exits recovered");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*writer)->append(gen.next_exit()));
  ASSERT_TRUE((*writer)->finish(End{EndKind::kCompleted, ""}));
  EXPECT_EQ(verify(file.path()).message, "ok: 3 chunks, 15 exits");
}

TEST(RoundTrip, BackpressureBlocksInsteadOfDropping) {
  TempFile file;
  WriterOptions options;
  options.queue_capacity = 4;  // the writer thread falls behind at once
  options.chunk_bytes = 1024;
  auto writer = TraceWriter::open(file.path(), make_setup(), options);
  ASSERT_TRUE(writer);
  RecordGenerator gen;
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE((*writer)->append(gen.next_exit()));
  ASSERT_TRUE((*writer)->finish(End{EndKind::kCompleted, ""}));
  auto result = verify(file.path());
  EXPECT_EQ(result.status, VerifyStatus::kOk) << result.message;
  EXPECT_EQ(result.exits, 5000u);
}

TEST(RoundTrip, BatchesKeepOrderAndBlockWhenTheQueueIsFull) {
  TempFile file;
  WriterOptions options;
  options.queue_capacity = 8;  // smaller than a batch: append_batch must wait, not overflow
  options.chunk_bytes = 1024;
  auto writer = TraceWriter::open(file.path(), make_setup(), options);
  ASSERT_TRUE(writer);
  RecordGenerator gen;
  std::vector<Record> expected, batch;
  for (int b = 0; b < 50; ++b) {
    for (int i = 0; i < 37; ++i) {
      expected.push_back(gen.next_exit());
      batch.push_back(expected.back());
    }
    ASSERT_TRUE((*writer)->append_batch(batch));
    EXPECT_TRUE(batch.empty());
  }
  ASSERT_TRUE((*writer)->finish(End{EndKind::kCompleted, ""}));
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader);
  std::vector<Record> got;
  ASSERT_TRUE((*reader)->for_each_record([&](const Record& r) {
    if (std::holds_alternative<Exit>(r)) got.push_back(r);
    return true;
  }));
  EXPECT_EQ(got, expected);
}

TEST(RoundTrip, DiskFullIsAnErrorValue) {
  auto writer = TraceWriter::open("/dev/full", make_setup());
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().message, "cannot write trace /dev/full: No space left on device");
}

TEST(RoundTrip, WriterErrorsNameThePath) {
  auto writer = TraceWriter::open("/nonexistent-dir/t.cap", make_setup());
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().message,
            "cannot create trace /nonexistent-dir/t.cap: No such file or directory");
}

}  // namespace
}  // namespace hlrr::trace

namespace hlrr::trace {
namespace {

TEST(RoundTripDeathTest, ExitNumbersMustBeConsecutive) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the writer runs a thread
  testing::TempFile file;
  auto writer = TraceWriter::open(file.path(), testing::make_setup());
  ASSERT_TRUE(writer);
  Exit exit;
  exit.sequence = 1;  // 0 expected
  EXPECT_DEATH((void)(*writer)->append(exit), "check failed: exit->sequence == next_exit_");
}

}  // namespace
}  // namespace hlrr::trace
