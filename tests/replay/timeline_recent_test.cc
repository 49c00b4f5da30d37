// Timeline: steps back stay short on a recording whose checkpoints were thinned far apart
// (RecentCheckpoints): after a seek, after a forward continue, and further back step by step.
#include <gtest/gtest.h>

#include "replay/timeline.h"
#include "replay_test_util.h"

namespace hlrr::replay {
namespace {

// sort_hash(5000): ~1.2M instructions; 1000-instruction checkpoints in a 2 MiB cap thin out
// to one every 32k or more. Recent checkpoints every `rolling` instructions exactly, whatever
// they copy (their spacing by cost: the RollingSpacing tests below).
constexpr TimelineOptions kThinned{
    .interval = 1000, .memory_cap = 2u << 20, .rolling = 2000, .rolling_cost_ratio = 0};

class TimelineRecent : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path("compute.cap");
    ASSERT_TRUE(testing::record_guest(
        "compute", {{"sort_hash", {vmm::Value{int64_t{5000}}, vmm::Value{int64_t{1}}}}}, path_));
    auto session = ReplaySession::open(path_);
    ASSERT_TRUE(session);
    session_ = std::move(*session);
  }

  // The registers at `count`, from a separate replay run straight from the start.
  vmm::RegisterFile registers_at(uint64_t count) {
    auto session = ReplaySession::open(path_);
    EXPECT_TRUE(session);
    Timeline timeline(**session, {.interval = 1ull << 40});
    EXPECT_EQ(timeline.seek(count).kind, TimelineStop::Kind::kStep);
    EXPECT_EQ(timeline.now(), count);
    return *(*session)->registers();
  }

  testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<ReplaySession> session_;
};

TEST_F(TimelineRecent, StepsBackAfterASeekReplayAtMostNearInstructionsEach) {
  Timeline timeline(*session_, kThinned);
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  const uint64_t end = timeline.now();
  ASSERT_GE(timeline.interval(), 32'000u);  // thinned: a step back used to replay ~interval/2
  const uint64_t target = end * 3 / 4 + 12'345;
  ASSERT_EQ(timeline.seek(target).kind, TimelineStop::Kind::kStep);
  for (int i = 1; i <= 300; ++i) {
    const uint64_t before = timeline.instructions_replayed();
    ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(timeline.now(), target - i);
    ASSERT_LE(timeline.instructions_replayed() - before, 4096u) << "step " << i;
  }
  EXPECT_EQ(*session_->registers(), registers_at(target - 300));
  // Past the nearest recent checkpoint: the next one back is at most 4 * near further.
  ASSERT_EQ(timeline.seek(target - 4096).kind, TimelineStop::Kind::kStep);
  const uint64_t before = timeline.instructions_replayed();
  ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  EXPECT_LE(timeline.instructions_replayed() - before, 4 * 4096u);
  EXPECT_EQ(*session_->registers(), registers_at(target - 4097));
  EXPECT_LE(timeline.recent_checkpoint_count(), RecentCheckpointLimits{}.count);
}

TEST_F(TimelineRecent, AStepBackAfterAForwardContinueReplaysAtMostTheRollingDistance) {
  Timeline timeline(*session_, kThinned);
  ASSERT_EQ(timeline.continue_forward({}).kind, TimelineStop::Kind::kEnd);
  const uint64_t end = timeline.now();
  ASSERT_GE(timeline.interval(), 32'000u);
  const uint64_t before = timeline.instructions_replayed();
  ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  EXPECT_EQ(timeline.now(), end - 1);
  EXPECT_LE(timeline.instructions_replayed() - before, kThinned.rolling);
  EXPECT_EQ(*session_->registers(), registers_at(end - 1));
}

// The scan of an interval leaves recent checkpoints on its way: going to the hit it found
// replays at most `rolling` instructions, not the interval from its start.
TEST_F(TimelineRecent, AReverseContinueGoesToItsHitFromARecentCheckpoint) {
  auto image = vmm::ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/compute.elf");
  ASSERT_TRUE(image);
  const auto alloc = image->symbols().address_of("hl_alloc");
  ASSERT_TRUE(alloc);
  TimelineOptions options = kThinned;
  // Below the hit's distance from its interval's start, and one interval's worth of them fits
  // in the pool (the hit's interval is the last scanned: its are the latest added).
  options.rolling = 1000;
  options.recent.count = 128;
  Timeline timeline(*session_, options);
  ASSERT_EQ(timeline.continue_forward({}).kind, TimelineStop::Kind::kEnd);
  ASSERT_GE(timeline.interval(), 32'000u);
  ASSERT_LE(timeline.interval() / options.rolling, options.recent.count);
  ASSERT_TRUE(timeline.set_debug_points({{vmm::DebugPointKind::kBreakpoint, *alloc, 1}}));
  const uint64_t before = timeline.instructions_replayed();
  ASSERT_EQ(timeline.continue_backward({}).kind, TimelineStop::Kind::kBreakpoint);
  EXPECT_EQ(session_->registers()->rip, *alloc);
  EXPECT_GT(timeline.now() % timeline.interval(), options.rolling);
  EXPECT_LE(timeline.instructions_replayed() - before, options.rolling);
}

// Recent checkpoints share page copies with the kept ones: the kept ones' memory is still
// counted whole (the pages each holds that the one before it does not), so the cap still holds.
TEST_F(TimelineRecent, TheCheckpointMemoryCapStillHolds) {
  Timeline timeline(*session_, kThinned);
  ASSERT_EQ(timeline.continue_forward({}).kind, TimelineStop::Kind::kEnd);
  for (uint64_t t = timeline.now(); t > 100'000; t -= 97'531) {
    ASSERT_EQ(timeline.seek(t).kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  }
  EXPECT_LE(timeline.checkpoint_bytes(), kThinned.memory_cap);
  EXPECT_GT(timeline.recent_checkpoint_count(), 0u);
}

// Each recent checkpoint a continue leaves copies the pages written since the checkpoint before
// it; where that costs more than TimelineOptions::rolling_cost_ratio allows, they are spaced
// further apart (a sort writes ~1,000 pages a million instructions: 10% of a continue at one
// per million), and a step back after the continue replays at most that spacing.
TEST_F(TimelineRecent, RecentCheckpointsThatCopyMuchAreSpacedFurther) {
  TimelineOptions options = kThinned;
  options.rolling = 1000;
  options.rolling_cost_ratio = 40;
  Timeline timeline(*session_, options);
  ASSERT_EQ(timeline.continue_forward({}).kind, TimelineStop::Kind::kEnd);
  const uint64_t end = timeline.now();
  // A page copy is worth ~100 instructions: one page in a 1000-instruction window is too dear.
  EXPECT_GE(timeline.rolling_every(), 4 * options.rolling);
  EXPECT_EQ(timeline.rolling_every() % options.rolling, 0u);
  const uint64_t spacing = timeline.rolling_every();
  const uint64_t before = timeline.instructions_replayed();
  ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  EXPECT_EQ(timeline.now(), end - 1);
  EXPECT_LE(timeline.instructions_replayed() - before, spacing);
  EXPECT_EQ(*session_->registers(), registers_at(end - 1));
}

TEST_F(TimelineRecent, RecentCheckpointsThatCopyLittleKeepTheirSpacing) {
  // sort_hash(5000) writes a dozen pages in 100,000 instructions: ~1% at a ratio of 40.
  Timeline timeline(*session_, {.interval = 1ull << 40, .rolling = 100'000});
  ASSERT_EQ(timeline.continue_forward({}).kind, TimelineStop::Kind::kEnd);
  EXPECT_EQ(timeline.rolling_every(), 100'000u);
  const uint64_t before = timeline.instructions_replayed();
  ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  EXPECT_LE(timeline.instructions_replayed() - before, 100'000u);
}

}  // namespace
}  // namespace hlrr::replay
