// Timeline: what a reverse continue may skip (intervals in which no debug point can hit), and
// interrupts honoured inside long replays.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "replay/timeline.h"
#include "replay_test_util.h"

namespace hlrr::replay {
namespace {

using Clock = std::chrono::steady_clock;

std::string compute_trace(const testing::TempDir& dir, int64_t n) {
  const std::string path = dir.path("compute.cap");
  EXPECT_TRUE(testing::record_guest(
      "compute", {{"sort_hash", {vmm::Value{n}, vmm::Value{int64_t{1}}}}}, path));
  return path;
}

uint64_t symbol(const std::string& guest, const std::string& name) {
  auto image = vmm::ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/" + guest + ".elf");
  EXPECT_TRUE(image);
  auto address = image->symbols().address_of(name);
  EXPECT_TRUE(address) << name;
  return address ? *address : 0;
}

// Nothing can stop it: reverse continue is a seek to the start, no interval replayed.
TEST(TimelineSkip, ReverseContinueWithNothingSetGoesStraightToTheStart) {
  testing::TempDir dir;
  const std::string path = compute_trace(dir, 5000);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  Timeline timeline(**session, {.interval = 1000});
  const uint64_t start_rip = (*session)->registers()->rip;
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  ASSERT_GT(timeline.now(), 1'000'000u);
  EXPECT_EQ(timeline.continue_backward({}).kind, TimelineStop::Kind::kBegin);
  EXPECT_EQ(timeline.now(), 0u);
  EXPECT_EQ((*session)->registers()->rip, start_rip);
  EXPECT_EQ(timeline.intervals_replayed(), 0u);
}

// hl_alloc runs once, at the start of sort_hash: from the end, only the intervals whose code
// includes its first line are replayed, and the hit is the one a full scan finds.
TEST(TimelineSkip, ReverseContinueToABreakpointReplaysOnlyIntervalsThatRanItsCode) {
  testing::TempDir dir;
  const std::string path = compute_trace(dir, 5000);
  const uint64_t alloc = symbol("compute", "hl_alloc");
  std::vector<uint64_t> found;
  // The last: checkpoints thinned out many times on the way (the memory cap is small).
  for (TimelineOptions options :
       {TimelineOptions{.interval = 1000}, TimelineOptions{.interval = 1ull << 40},
        TimelineOptions{.interval = 1000, .memory_cap = 24u << 20}}) {
    const uint64_t interval = options.interval;
    SCOPED_TRACE(interval);
    auto session = ReplaySession::open(path);
    ASSERT_TRUE(session);
    Timeline timeline(**session, options);
    ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
    const uint64_t end = timeline.now();
    ASSERT_TRUE(timeline.set_debug_points({{vmm::DebugPointKind::kBreakpoint, alloc, 1}}));
    const TimelineStop stop = timeline.continue_backward({});
    ASSERT_EQ(stop.kind, TimelineStop::Kind::kBreakpoint);
    EXPECT_EQ(stop.address, alloc);
    EXPECT_EQ((*session)->registers()->rip, alloc);
    found.push_back(timeline.now());
    if (options.memory_cap < (256u << 20)) {
      EXPECT_GT(timeline.interval(), interval);  // thinned out
    }
    if (interval == 1000) {
      ASSERT_GT(end / timeline.interval(), 20u);
      EXPECT_LE(timeline.intervals_replayed(), 3u);
    }
  }
  EXPECT_EQ(found[0], found[1]);
  EXPECT_EQ(found[2], found[1]);
}

// One interval over the whole recording: the activity map still narrows the search to the
// windows that ran the breakpoint's code or wrote the watched page (hl_alloc and
// g_function_count: the initialisation's), found the same as with many short intervals.
TEST(TimelineSkip, AReverseContinueScansOnlyTheWindowsWhereItsPointCanHit) {
  testing::TempDir dir;
  const std::string path = compute_trace(dir, 5000);
  const std::vector<vmm::DebugPoint> points = {
      {vmm::DebugPointKind::kBreakpoint, symbol("compute", "hl_alloc"), 1},
      {vmm::DebugPointKind::kWriteWatch, symbol("compute", "g_function_count"), 4}};
  std::vector<std::vector<uint64_t>> found;
  // Replay files what it did at its stops: here every 1,000 instructions.
  for (TimelineOptions options :
       {TimelineOptions{.interval = 1000},
        TimelineOptions{.interval = 1ull << 40, .rolling = 1000, .rolling_cost_ratio = 0}}) {
    SCOPED_TRACE(options.interval);
    auto session = ReplaySession::open(path);
    ASSERT_TRUE(session);
    Timeline timeline(**session, options);
    ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
    const uint64_t end = timeline.now();
    ASSERT_GT(end, 200'000u);
    EXPECT_EQ(timeline.activity().known_windows(), (end + 999) / 1000);
    found.emplace_back();
    for (const auto& point : points) {
      ASSERT_TRUE(timeline.seek(end).kind == TimelineStop::Kind::kStep);
      ASSERT_TRUE(timeline.set_debug_points({point}));
      const uint64_t searched = timeline.instructions_searched();
      const TimelineStop stop = timeline.continue_backward({});
      ASSERT_EQ(stop.point, point.kind);
      EXPECT_EQ(stop.address, point.address);
      found.back().push_back(timeline.now());
      // The last hit is in the latest window that can hold one: that window alone is scanned.
      EXPECT_LE(timeline.instructions_searched() - searched, 1000u);
    }
  }
  EXPECT_EQ(found[0], found[1]);
  EXPECT_LT(found[0][0], 100'000u);  // both in the initialisation
  EXPECT_LT(found[0][1], 100'000u);
}

// Replay that did not run a window whole (here: a diversion in it, which restores the state
// mid-window) leaves it unknown, and an unknown window is scanned: the hit in it is found.
TEST(TimelineSkip, AWindowNotReplayedWholeIsScanned) {
  testing::TempDir dir;
  const std::string path = compute_trace(dir, 5000);
  const uint64_t alloc = symbol("compute", "hl_alloc");
  const TimelineOptions options{.interval = 1ull << 40, .rolling = 1000};
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  uint64_t hit = 0;
  {
    Timeline timeline(**session, options);
    ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
    ASSERT_TRUE(timeline.set_debug_points({{vmm::DebugPointKind::kBreakpoint, alloc, 1}}));
    ASSERT_EQ(timeline.continue_backward({}).kind, TimelineStop::Kind::kBreakpoint);
    hit = timeline.now();
  }
  ASSERT_NE((hit + 1) % 1000, 0u);  // the diversion below is in the hit's window
  auto fresh = ReplaySession::open(path);
  ASSERT_TRUE(fresh);
  Timeline timeline(**fresh, options);
  ASSERT_EQ(timeline.seek(hit + 1).kind, TimelineStop::Kind::kStep);
  timeline.begin_diversion();
  timeline.end_diversion();
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  EXPECT_FALSE(timeline.activity().known(hit / 1000));
  EXPECT_TRUE(timeline.activity().known(hit / 1000 + 1));
  ASSERT_TRUE(timeline.set_debug_points({{vmm::DebugPointKind::kBreakpoint, alloc, 1}}));
  ASSERT_EQ(timeline.continue_backward({}).kind, TimelineStop::Kind::kBreakpoint);
  EXPECT_EQ(timeline.now(), hit);
}

// A reverse continue that must replay every instruction with a code hook (a read watchpoint on
// memory nothing reads), in one long interval: an interrupt ends it within a block, back where
// it started, not after the whole interval.
TEST(TimelineSkip, AnInterruptEndsAReverseContinueInsideALongInterval) {
  testing::TempDir dir;
  const std::string path = compute_trace(dir, 40000);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  Timeline timeline(**session, {.interval = 1ull << 40});
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  const uint64_t end = timeline.now();
  // A plain replay of the whole recording (what the seek back after the interrupt costs).
  const auto plain = [&] {
    const auto t = Clock::now();
    EXPECT_EQ(timeline.seek(0).kind, TimelineStop::Kind::kStep);
    EXPECT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
    return Clock::now() - t;
  }();
  const vmm::RegisterFile at_end = *(*session)->registers();
  ASSERT_TRUE(timeline.set_debug_points({{vmm::DebugPointKind::kReadWatch, 0x9000, 8}}));
  std::stop_source source;
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    source.request_stop();
  });
  const auto began = Clock::now();
  const TimelineStop stop = timeline.continue_backward(source.get_token());
  const auto took = Clock::now() - began;
  interrupter.join();
  EXPECT_EQ(stop.kind, TimelineStop::Kind::kInterrupted);
  EXPECT_EQ(timeline.now(), end);
  EXPECT_EQ(*(*session)->registers(), at_end);
  // The whole scan replays ~19M instructions with a hook on each (longer than a plain replay);
  // interrupted, it costs the 200 ms before the interrupt and the return to the start's state.
  EXPECT_LT(took, plain / 2 + std::chrono::milliseconds(200));
  // Still usable: one step back from the end.
  ASSERT_TRUE(timeline.set_debug_points({}));
  EXPECT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  EXPECT_EQ(timeline.now(), end - 1);
}

// A step back replays up to one interval: an interrupt ends it too.
TEST(TimelineSkip, AnInterruptEndsAStepBack) {
  testing::TempDir dir;
  const std::string path = compute_trace(dir, 20000);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  Timeline timeline(**session, {.interval = 1ull << 40});
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  const uint64_t end = timeline.now();
  std::stop_source source;
  source.request_stop();
  EXPECT_EQ(timeline.step_backward(source.get_token()).kind, TimelineStop::Kind::kInterrupted);
  EXPECT_LT(timeline.now(), end - 1);  // where the interrupt found the replay
  EXPECT_EQ(timeline.seek(end).kind, TimelineStop::Kind::kStep);
  EXPECT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  EXPECT_EQ(timeline.now(), end - 1);
}

}  // namespace
}  // namespace hlrr::replay
