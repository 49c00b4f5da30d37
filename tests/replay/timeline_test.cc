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
  const std::string path = dir.path("buggy.cap");
  EXPECT_TRUE(testing::record_guest("buggy", testing::buggy_off_by_one_calls(), path));
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
  // The last two: one long interval scanned in parts (only those that wrote the watched page,
  // Timeline::scan_written_parts), and in parts too many to keep (the whole interval scanned).
  for (TimelineOptions options :
       {TimelineOptions{.interval = 50}, TimelineOptions{.interval = 1000},
        TimelineOptions{.interval = 1ull << 40},
        TimelineOptions{.interval = 1ull << 40, .rolling = 1000},
        TimelineOptions{.interval = 1ull << 40, .rolling = 20}}) {
    SCOPED_TRACE(::testing::Message() << options.interval << " " << options.rolling);
    auto session = ReplaySession::open(path);
    ASSERT_TRUE(session);
    Timeline timeline(**session, options);
    const uint64_t end = [&] {
      EXPECT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
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
    if (options.rolling == 1000) {
      EXPECT_EQ(timeline.scans_in_parts(), 2u);
    }
    // No write before the first add_sample's increment... back to the start.
    ASSERT_TRUE(timeline.set_debug_points({}));
    EXPECT_EQ(timeline.seek(0).kind, TimelineStop::Kind::kStep);
    EXPECT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kBegin);
    EXPECT_EQ(timeline.continue_backward({}).kind, TimelineStop::Kind::kBegin);
  }
  ASSERT_EQ(positions.size(), 10u);
  for (size_t i = 2; i < positions.size(); ++i) EXPECT_EQ(positions[i], positions[i % 2]) << i;
}

TEST(Timeline, StepBackThenForwardVisitsTheSameRegisters) {
  testing::TempDir dir;
  const std::string path = buggy_trace(dir);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  Timeline timeline(**session, {.interval = 500});
  ASSERT_EQ(timeline.seek(3000).kind, TimelineStop::Kind::kStep);
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

std::vector<uint8_t> all_memory(ReplaySession& s) {
  std::vector<uint8_t> bytes(s.memory().size());
  EXPECT_TRUE(s.memory().read(0, bytes));
  return bytes;
}

// An inferior call as gdb makes one: registers and the return address written, the function
// run to a breakpoint at the return address, the registers written back. Ending the diversion
// restores the recorded state exactly (registers, every byte of memory, the count), and the
// replay then runs to the end of the recording without diverging.
TEST(Timeline, ADiversionRunsFreelyThenReturnsToTheRecordedState) {
  testing::TempDir dir;
  const std::string path = buggy_trace(dir);
  auto image = vmm::ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/buggy.elf");
  ASSERT_TRUE(image);
  const uint64_t square = *image->symbols().address_of("square");
  const uint64_t count_address = *image->symbols().address_of("g_stats") + 16 * 8;
  const uint64_t entry = image->entry();
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  ReplaySession& s = **session;
  Timeline timeline(s, {.interval = 1000});
  ASSERT_EQ(timeline.seek(4321).kind, TimelineStop::Kind::kStep);
  const vmm::RegisterFile recorded = *s.registers();
  const std::vector<uint8_t> memory = all_memory(s);
  const int64_t count = read_i64(s, count_address);

  timeline.begin_diversion();
  ASSERT_TRUE(timeline.diverted());
  const int64_t changed = 12345;
  ASSERT_TRUE(s.write_memory(count_address, {reinterpret_cast<const uint8_t*>(&changed), 8}));
  vmm::RegisterFile call = recorded;
  call.rsp = (recorded.rsp - 256) & ~0xFull;
  call.rsp -= 8;
  ASSERT_TRUE(s.write_memory(call.rsp, {reinterpret_cast<const uint8_t*>(&entry), 8}));
  call.rip = square;
  call.rdi = 7;
  ASSERT_TRUE(s.set_registers(call));
  ASSERT_TRUE(timeline.set_debug_points({{vmm::DebugPointKind::kBreakpoint, entry, 1}}));
  const vmm::VcpuExit exit = timeline.run_diversion(false, {});
  ASSERT_EQ(exit.kind, vmm::ExitKind::kDebug);
  EXPECT_EQ(exit.address, entry);
  EXPECT_EQ(s.registers()->rax, 49u);
  EXPECT_EQ(read_i64(s, count_address), changed);

  timeline.end_diversion();
  EXPECT_FALSE(timeline.diverted());
  EXPECT_EQ(timeline.now(), 4321u);
  EXPECT_EQ(vmm::first_difference(*s.registers(), recorded), std::nullopt);
  EXPECT_EQ(read_i64(s, count_address), count);
  EXPECT_TRUE(all_memory(s) == memory);
  ASSERT_TRUE(timeline.set_debug_points({}));
  EXPECT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  EXPECT_TRUE(s.at_end());
  EXPECT_EQ(s.divergence(), "");
  EXPECT_EQ(s.end_note(), "completed");
}

// Any move on the timeline ends a diversion first: a step back goes back from where the
// diversion started.
TEST(Timeline, AStepBackEndsADiversion) {
  testing::TempDir dir;
  const std::string path = buggy_trace(dir);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  ReplaySession& s = **session;
  Timeline timeline(s, {.interval = 1000});
  ASSERT_EQ(timeline.seek(2500).kind, TimelineStop::Kind::kStep);
  const vmm::RegisterFile at_2500 = *s.registers();
  ASSERT_EQ(timeline.seek(2499).kind, TimelineStop::Kind::kStep);
  const vmm::RegisterFile at_2499 = *s.registers();
  ASSERT_EQ(timeline.seek(2500).kind, TimelineStop::Kind::kStep);
  timeline.begin_diversion();
  vmm::RegisterFile changed = at_2500;
  changed.rax ^= 1;
  ASSERT_TRUE(s.set_registers(changed));
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(timeline.run_diversion(true, {}).kind, vmm::ExitKind::kInstructionLimit);
  ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
  EXPECT_FALSE(timeline.diverted());
  EXPECT_EQ(timeline.now(), 2499u);
  EXPECT_EQ(*s.registers(), at_2499);
}

// The exits replay has passed stay known: going back to the start, then jumping forward to a
// late checkpoint, leaves every exit in the list as recorded (monitor exits, monitor seek).
TEST(Timeline, TheExitListSurvivesGoingBackThenJumpingForward) {
  testing::TempDir dir;
  const std::string path = buggy_trace(dir);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  Timeline timeline(**session, {.interval = 1000});
  ASSERT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  const std::vector<ExitInfo> all = (*session)->exits();
  ASSERT_EQ(all.size(), 19u);
  ASSERT_EQ(timeline.seek(0).kind, TimelineStop::Kind::kStep);
  ASSERT_EQ(timeline.seek(all[17].instruction_count).kind,
            TimelineStop::Kind::kStep);  // from the checkpoint before it, not from 0
  EXPECT_EQ((*session)->exits_replayed(), 18u);
  ASSERT_GE((*session)->exits().size(), 18u);
  for (size_t i = 0; i < 18; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*session)->exits()[i].sequence, i);
    EXPECT_EQ((*session)->exits()[i].instruction_count, all[i].instruction_count);
    EXPECT_EQ((*session)->exits()[i].rip, all[i].rip);
  }
}

}  // namespace
}  // namespace hlrr::replay
