// Replay of hostile traces: whatever a trace holds, replay allocates in proportion to the
// recorded guest's memory, refuses what no recorder writes in one line, and applies the same
// structural rules as `hltrace verify`.
#include <gtest/gtest.h>
#include <malloc.h>

#include "replay/replay_session.h"
#include "replay_test_util.h"
#include "tests/trace_format/trace_test_util.h"
#include "trace_format/verify.h"

namespace hlrr::replay {
namespace {

using testing::rewrite;
using testing::TempDir;
using vmm::Value;

// Bytes the process holds from malloc (small blocks and mmapped ones).
uint64_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// A MemoryDelta after exit `exit` holding `count` pages from `first` on, each `stride` apart.
trace::MemoryDelta delta(uint64_t exit, uint64_t first, uint64_t count, uint64_t stride) {
  trace::MemoryDelta d;
  d.exit_sequence = exit;
  for (uint64_t i = 0; i < count; ++i) {
    d.pages.push_back(trace::Page{first + i * stride, std::vector<uint8_t>(trace::kPageSize, 1)});
  }
  return d;
}

// Records hello's greet, then adds `copies` of `extra` after its first exit.
void record_with(const TempDir& dir, const trace::MemoryDelta& extra, int copies) {
  ASSERT_TRUE(
      testing::record_guest("hello", {{"greet", {Value{std::string("x")}}}}, dir.path("a.cap")));
  bool added = false;
  rewrite(
      dir.path("a.cap"), dir.path("b.cap"), [](trace::Record&) {},
      [&](const trace::Record& r) {
        std::vector<trace::Record> out;
        if (std::holds_alternative<trace::Exit>(r) && !added) {
          for (int i = 0; i < copies; ++i) out.emplace_back(extra);
          added = true;
        }
        return out;
      });
}

TEST(HostileTrace, ReplayKeepsNoCopyOfTheMemoryDeltasItHasNotReached) {
  TempDir dir;
  // 40 deltas, each every page of the 4 MiB guest: 160 MiB of page contents.
  record_with(dir, delta(0, 0, 1024, trace::kPageSize), 40);
  const uint64_t before = heap_in_use();
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_TRUE(session) << session.error().message;
  const uint64_t held = heap_in_use() - before;
  EXPECT_LT(held, 24u << 20) << "replay holds " << (held >> 20) << " MiB after open()";
  // The deltas are still checked: the first one differs from replayed memory at page 0.
  EXPECT_EQ((*session)->run_to_end(), StopKind::kDivergence);
  EXPECT_NE((*session)->divergence().find("memory after exit 0"), std::string::npos)
      << (*session)->divergence();
  EXPECT_NE((*session)->divergence().find("byte 0x0 is 0x0, recorded 0x1"), std::string::npos)
      << (*session)->divergence();
}

TEST(HostileTrace, AChunkLargerThanTheGuestMemoryCanExplainIsRefusedInOneLine) {
  TempDir dir;
  // One 64 MiB delta (16384 pages) for a 4 MiB guest.
  record_with(dir, delta(0, 0, 16384, trace::kPageSize), 1);
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_FALSE(session);
  const std::string& line = session.error().message;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("more than a recording of 4 MiB of guest memory holds"), std::string::npos)
      << line;
}

TEST(HostileTrace, ADeltaPageOutsideGuestMemoryIsRefusedAtOpen) {
  TempDir dir;
  record_with(dir, delta(0, 4 << 20, 1, trace::kPageSize), 1);
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_FALSE(session);
  EXPECT_NE(session.error().message.find("memory delta after exit 0: page 0x400000 is not guest "
                                         "memory"),
            std::string::npos)
      << session.error().message;
}

TEST(HostileTrace, ADeltaListingAPageTwiceIsRefusedAtOpen) {
  TempDir dir;
  record_with(dir, delta(0, 0x5000, 3, 0), 1);
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_FALSE(session);
  EXPECT_NE(session.error().message.find("memory delta after exit 0: page 0x5000 is listed twice"),
            std::string::npos)
      << session.error().message;
}

// A recording of hello's greet, its bytes, chunks and index offset.
struct Recorded {
  std::vector<uint8_t> bytes;
  std::vector<trace::ChunkInfo> chunks;
  uint64_t index_offset = 0;
};

Recorded record_hello(const TempDir& dir) {
  EXPECT_TRUE(
      testing::record_guest("hello", {{"greet", {Value{std::string("x")}}}}, dir.path("a.cap")));
  Recorded r;
  r.bytes = trace::testing::read_file(dir.path("a.cap"));
  auto reader = trace::TraceReader::open_memory(r.bytes);
  EXPECT_TRUE(reader);
  if (reader) {
    r.chunks = (*reader)->chunks();
    r.index_offset = (*reader)->index_offset();
  }
  return r;
}

TEST(HostileTrace, RecordsAfterTheEndAreRefusedAsHltraceVerifyRefusesThem) {
  TempDir dir;
  Recorded a = record_hello(dir);
  ASSERT_GE(a.chunks.size(), 2u);
  // The last chunk holds the final MemoryDelta and End and no exit: appended again (with an index
  // that lists it), the trace has End twice and a delta after the first End.
  const trace::ChunkInfo last = a.chunks.back();
  ASSERT_EQ(last.exit_count, 0u);
  std::vector<uint8_t> bytes(a.bytes.begin(), a.bytes.begin() + a.index_offset);
  bytes.insert(bytes.end(), a.bytes.begin() + last.offset, a.bytes.begin() + a.index_offset);
  auto chunks = a.chunks;
  chunks.push_back(last);
  chunks.back().offset = a.index_offset;
  trace::testing::write_file(dir.path("b.cap"),
                             trace::testing::with_index(bytes, bytes.size(), chunks));
  const trace::VerifyResult verified = trace::verify(dir.path("b.cap"));
  ASSERT_EQ(verified.status, trace::VerifyStatus::kCorrupt) << verified.message;
  EXPECT_EQ(verified.message, "chunk " + std::to_string(a.chunks.size()) + " at offset " +
                                  std::to_string(a.index_offset) + ": record 0: follows the End " +
                                  "record");
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().message, verified.message);
}

TEST(HostileTrace, ATraceCatenatedTwiceReplaysTheFirstCopy) {
  TempDir dir;
  Recorded a = record_hello(dir);
  std::vector<uint8_t> twice = a.bytes;
  twice.insert(twice.end(), a.bytes.begin(), a.bytes.end());
  trace::testing::write_file(dir.path("b.cap"), twice);
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ((*session)->run_to_end(), StopKind::kEnd) << (*session)->divergence();
  EXPECT_EQ((*session)->end_note(), "completed");
  EXPECT_EQ((*session)->exits_replayed(), (*session)->recorded_exits());
  EXPECT_GT((*session)->exits_replayed(), 1u);
}

}  // namespace
}  // namespace hlrr::replay
