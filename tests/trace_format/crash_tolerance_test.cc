// A trace cut off anywhere (a crash, kill -9, a full disk) still yields every complete chunk.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

std::vector<Exit> read_exits(const TraceReader& reader) {
  std::vector<Exit> exits;
  auto status = reader.for_each_record([&](const Record& r) {
    if (auto* e = std::get_if<Exit>(&r)) exits.push_back(*e);
    return true;
  });
  EXPECT_TRUE(status) << status.error().message;
  return exits;
}

TEST(CrashTolerance, CutAnywhereRecoversExactlyTheCompleteChunks) {
  TempFile file;
  std::vector<Record> records = RecordGenerator(3).records(1500);
  std::vector<Exit> exits = exits_of(records);
  WriterOptions options;
  options.chunk_bytes = 4096;
  testing::write_trace(file.path(), make_setup(), records, End{EndKind::kCompleted, ""}, options);
  const std::vector<uint8_t> full = testing::read_file(file.path());
  auto full_reader = TraceReader::open_memory(full);
  ASSERT_TRUE(full_reader);
  const std::vector<ChunkInfo> chunks = (*full_reader)->chunks();
  ASSERT_GT(chunks.size(), 20u);
  // Where each chunk ends: the next one's start, or the index for the last.
  std::vector<uint64_t> chunk_end;
  for (size_t i = 0; i < chunks.size(); ++i) {
    chunk_end.push_back(i + 1 < chunks.size() ? chunks[i + 1].offset
                                              : (*full_reader)->index_offset());
  }
  // Every 37 bytes, plus each chunk boundary and its neighbours, plus every byte of the footer.
  std::set<uint64_t> cuts;
  for (uint64_t cut = 0; cut <= full.size(); cut += 37) cuts.insert(cut);
  for (uint64_t end : chunk_end) cuts.insert({end - 1, end, end + 1});
  for (uint64_t cut = full.size() - kFooterSize - 1; cut <= full.size(); ++cut) cuts.insert(cut);
  const uint64_t header_size = chunks[0].offset;

  for (uint64_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(full.size()));
    auto reader = TraceReader::open_memory(std::vector<uint8_t>(full.begin(), full.begin() + cut));
    if (cut < header_size) {
      ASSERT_FALSE(reader);
      EXPECT_TRUE(reader.error().message == "trace header truncated" ||
                  reader.error().message == "not an hlrr trace (bad magic)")
          << reader.error().message;
      continue;
    }
    ASSERT_TRUE(reader) << reader.error().message;
    if (cut == full.size()) {
      EXPECT_FALSE((*reader)->truncated());
      EXPECT_EQ(verify(**reader).status, VerifyStatus::kOk);
      continue;
    }
    EXPECT_TRUE((*reader)->truncated());
    size_t complete = 0;
    while (complete < chunks.size() && chunk_end[complete] <= cut) ++complete;
    ASSERT_EQ((*reader)->chunks().size(), complete);
    EXPECT_TRUE(std::equal((*reader)->chunks().begin(), (*reader)->chunks().end(), chunks.begin()));
    std::vector<Exit> recovered = read_exits(**reader);
    ASSERT_EQ(recovered.size(), (*reader)->exit_count());
    ASSERT_TRUE(std::equal(recovered.begin(), recovered.end(), exits.begin()));  // a prefix
    VerifyResult result = verify(**reader);
    EXPECT_EQ(result.status, VerifyStatus::kTruncated) << result.message;
    EXPECT_EQ(result.message, "truncated (footer missing): " + std::to_string(complete) +
                                  " complete chunks, " + std::to_string(recovered.size()) +
                                  " exits recovered");
  }
}

// The real thing: a child process records in a loop, flushing every 50 exits, and is SIGKILLed.
TEST(CrashTolerance, KillDashNineLosesNothingFlushed) {
  for (uint64_t kill_after : {50u, 400u, 2000u}) {
    SCOPED_TRACE("killed after " + std::to_string(kill_after) + " flushed exits");
    TempFile file;
    int progress[2];
    ASSERT_EQ(::pipe(progress), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(progress[0]);
      auto writer = TraceWriter::open(file.path(), make_setup());
      if (!writer) ::_exit(2);
      RecordGenerator gen(11);
      for (uint64_t i = 1;; ++i) {
        if (!(*writer)->append(gen.next_exit())) ::_exit(3);
        if (i % 50 == 0) {
          if (!(*writer)->flush()) ::_exit(4);
          uint64_t flushed = i;
          if (::write(progress[1], &flushed, sizeof flushed) != sizeof flushed) ::_exit(5);
        }
      }
    }
    ::close(progress[1]);
    uint64_t flushed = 0;
    while (flushed < kill_after) ASSERT_EQ(::read(progress[0], &flushed, sizeof flushed), 8);
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
    ::close(progress[0]);

    auto reader = TraceReader::open(file.path());
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_TRUE((*reader)->truncated());
    EXPECT_EQ((*reader)->end()->kind, EndKind::kUnknown);
    std::vector<Exit> recovered = read_exits(**reader);
    EXPECT_GE(recovered.size(), kill_after);
    RecordGenerator gen(11);
    for (const Exit& e : recovered) ASSERT_EQ(e, gen.next_exit());
    EXPECT_EQ(verify(file.path()).status, VerifyStatus::kTruncated);
  }
}

TEST(CrashTolerance, DestroyingAnUnfinishedWriterKeepsEveryRecord) {
  TempFile file;
  {
    auto writer = TraceWriter::open(file.path(), make_setup());
    ASSERT_TRUE(writer);
    RecordGenerator gen;
    for (int i = 0; i < 123; ++i) ASSERT_TRUE((*writer)->append(gen.next_exit()));
  }
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader);
  EXPECT_TRUE((*reader)->truncated());
  EXPECT_EQ((*reader)->exit_count(), 123u);
}

}  // namespace
}  // namespace hlrr::trace
