// Timeline: seeks, steps back, and reverse continue with watchpoints give the same positions
// whatever the checkpoint interval (so skipping unwritten intervals loses nothing).
#include "replay/timeline.h"

#include <gtest/gtest.h>

#include <cstring>

#include "replay_test_util.h"

namespace hlrr::replay {
namespace {

using testing::CallSpec;
using vmm::Value;

std::string buggy_trace(const testing::TempDir& dir) {
  std::vector<CallSpec> calls;
  for (int64_t v = 10; v <= 160; v += 10) calls.push_back({"add_sample", {Value{v}}});
  calls.push_back({"add_sample", {Value{int64_t{1000}}}});
  calls.push_back({"mean", {}});
  const std::string path = dir.path("buggy.cap");
  EXPECT_TRUE(testing::record_guest("buggy", calls, path));
  return path;
}

int64_t read_i64(ReplaySession& s, uint64_t address) {
  int64_t v = 0;
  EXPECT_TRUE(s.memory().read(address, {reinterpret_cast<uint8_t*>(&v), sizeof v}));
  return v;
}

TEST(Timeline, ReverseContinueToTheLastWriteIsTheSameForEveryInterval) {
  testing::TempDir dir;
  const std::string path = buggy_trace(dir);
  auto image = vmm::ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/buggy.elf");
  ASSERT_TRUE(image);
  const uint64_t count_address = *image->symbols().address_of("g_stats") + 16 * 8;
  std::vector<uint64_t> positions;
  for (uint64_t interval : {50ull, 1000ull, 1ull << 40}) {
    SCOPED_TRACE(interval);
    auto session = ReplaySession::open(path);
    ASSERT_TRUE(session);
    Timeline timeline(**session, {.interval = interval});
    const uint64_t end = [&] {
      timeline.seek(UINT64_MAX);
      return timeline.now();
    }();
    ASSERT_GT(end, 5000u);
    ASSERT_TRUE(timeline.set_debug_points({{vmm::DebugPointKind::kWriteWatch, count_address, 8}}));
    const TimelineStop stop = timeline.continue_backward({});
    ASSERT_EQ(stop.kind, TimelineStop::Kind::kWatchpoint);
    EXPECT_EQ(stop.address, count_address);
    // At the store, before it: 17; one step later, the bug's 1000, and the step reports the
    // watched write as a live single step does.
    EXPECT_EQ(read_i64(**session, count_address), 17);
    positions.push_back(timeline.now());
    const TimelineStop step = timeline.step_forward();
    ASSERT_EQ(step.kind, TimelineStop::Kind::kWatchpoint);
    EXPECT_EQ(step.address, count_address);
    EXPECT_EQ(timeline.now(), positions.back() + 1);
    EXPECT_EQ(read_i64(**session, count_address), 1000);
    // The previous write: the 17th call's increment (16 -> 17).
    ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(timeline.continue_backward({}).kind, TimelineStop::Kind::kWatchpoint);
    EXPECT_EQ(read_i64(**session, count_address), 16);
    positions.push_back(timeline.now());
    // No write before the first add_sample's increment... back to the start.
    ASSERT_TRUE(timeline.set_debug_points({}));
    EXPECT_EQ(timeline.seek(0).kind, TimelineStop::Kind::kStep);
    EXPECT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kBegin);
    EXPECT_EQ(timeline.continue_backward({}).kind, TimelineStop::Kind::kBegin);
  }
  ASSERT_EQ(positions.size(), 6u);
  EXPECT_EQ(positions[0], positions[2]);
  EXPECT_EQ(positions[0], positions[4]);
  EXPECT_EQ(positions[1], positions[3]);
  EXPECT_EQ(positions[1], positions[5]);
}

TEST(Timeline, StepBackThenForwardVisitsTheSameRegisters) {
  testing::TempDir dir;
  const std::string path = buggy_trace(dir);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  Timeline timeline(**session, {.interval = 500});
  timeline.seek(3000);
  std::vector<vmm::RegisterFile> forward;
  for (int i = 0; i < 300; ++i) {
    forward.push_back(*(*session)->registers());
    ASSERT_EQ(timeline.step_forward().kind, TimelineStop::Kind::kStep);
  }
  for (int i = 299; i >= 0; --i) {
    ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(*(*session)->registers(), forward[i]) << "step " << i;
  }
  EXPECT_EQ(timeline.now(), 3000u);
}

}  // namespace
}  // namespace hlrr::replay
