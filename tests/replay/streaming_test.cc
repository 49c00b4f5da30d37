// ReplaySession streams the recording: it holds one chunk's records at a time, read through the
// index as replay reaches it (and again after going back), never the whole recording.
#include <gtest/gtest.h>

#include <algorithm>

#include "replay/timeline.h"
#include "replay_test_util.h"

namespace hlrr::replay {
namespace {

// 300 greet calls: a few exits each (host calls), spread over many 64 KiB chunks.
std::string many_chunks_trace(const testing::TempDir& dir) {
  std::vector<testing::CallSpec> calls;
  for (int i = 0; i < 300; ++i) {
    calls.push_back({"greet", {vmm::Value{std::string("reader ") + std::to_string(i)}}});
  }
  const std::string path = dir.path("hello.cap");
  EXPECT_TRUE(testing::record_guest("hello", calls, path));
  return path;
}

TEST(ReplaySessionStreaming, ATraceOfManyChunksReplaysHoldingOneChunkAtATime) {
  testing::TempDir dir;
  const std::string path = many_chunks_trace(dir);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session) << session.error().message;
  ReplaySession& s = **session;
  const auto& chunks = s.reader().chunks();
  ASSERT_GE(chunks.size(), 6u);
  size_t largest_chunk = 0;
  for (const auto& c : chunks) largest_chunk = std::max<size_t>(largest_chunk, c.record_count);
  // Nothing held after open: every chunk was checked, then dropped.
  EXPECT_EQ(s.records_held(), 0u);
  EXPECT_GT(s.recorded_records(), 3 * largest_chunk);

  size_t most_held = 0;
  StopKind stop = StopKind::kReachedCount;
  while (stop == StopKind::kReachedCount) {
    stop = s.run_to(s.instruction_count() + 5000);
    most_held = std::max(most_held, s.records_held());
  }
  ASSERT_EQ(stop, StopKind::kEnd) << s.divergence();
  EXPECT_EQ(s.end_note(), "completed");
  EXPECT_EQ(s.exits_replayed(), s.recorded_exits());
  EXPECT_GT(s.recorded_exits(), 600u);
  EXPECT_LE(most_held, largest_chunk);
}

// Going back restores a record cursor in a chunk no longer held: it is read again, and replay
// from there gives the same state as the first pass.
TEST(ReplaySessionStreaming, GoingBackRereadsTheChunkOfTheCheckpoint) {
  testing::TempDir dir;
  const std::string path = many_chunks_trace(dir);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  ReplaySession& s = **session;
  const uint64_t end = [&] {
    auto first = ReplaySession::open(path);
    EXPECT_TRUE(first);
    EXPECT_EQ((*first)->run_to_end(), StopKind::kEnd);
    return (*first)->instruction_count();
  }();
  Timeline timeline(s, {.interval = 10'000});
  // The first pass, forward only.
  std::vector<std::pair<uint64_t, vmm::RegisterFile>> seen;
  for (uint64_t at : {end / 7, end / 3, end / 2, end - 3}) {
    ASSERT_EQ(timeline.replay_forward(at).kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(timeline.now(), at);
    seen.emplace_back(at, *s.registers());
  }
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  const uint64_t exits = s.exits_replayed();
  std::reverse(seen.begin(), seen.end());
  for (const auto& [at, regs] : seen) {
    SCOPED_TRACE(at);
    ASSERT_EQ(timeline.seek(at).kind, TimelineStop::Kind::kStep);
    EXPECT_EQ(*s.registers(), regs);
  }
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  EXPECT_EQ(timeline.now(), end);
  EXPECT_EQ(s.exits_replayed(), exits);
  EXPECT_EQ(s.divergence(), "");
  EXPECT_LT(s.records_held(), s.recorded_records() / 3);
}

}  // namespace
}  // namespace hlrr::replay
