// FakeTarget itself: reset() (which rsp_fuzz relies on to reuse one target for every input)
// and the bounded step history behind reverse execution.
#include "tests/rsp/fake_target.h"

#include <gtest/gtest.h>

#include <stop_token>
#include <vector>

namespace hlrr::rsp {
namespace {

using testing::FakeTarget;

TEST(FakeTargetTest, ResetRestoresTheStateOfANewTarget) {
  FakeTarget fresh;
  FakeTarget target;
  target.reverse_enabled = true;
  target.accesses[0x1000] = {0x4000, true};  // the first step writes 0x00 at 0x4000
  const std::vector<uint8_t> bytes = {1, 2, 3};
  ASSERT_TRUE(target.write_memory(0x3000, bytes).has_value());
  ASSERT_TRUE(target.insert_breakpoint(BreakpointKind::kSoftware, 0x1010, 1).has_value());
  ASSERT_TRUE(target.insert_breakpoint(BreakpointKind::kWriteWatch, 0x4000, 8).has_value());
  EXPECT_EQ(target.resume(ResumeAction::kContinue, {}).kind, StopInfo::Kind::kWatch);
  EXPECT_EQ(target.resume(ResumeAction::kContinue, {}).kind, StopInfo::Kind::kSwBreak);
  ASSERT_TRUE(target.kill().has_value());

  target.reset();
  EXPECT_EQ(target.regs(), fresh.regs());
  EXPECT_EQ(target.memory(), fresh.memory());
  EXPECT_EQ(target.memory()[0x3001], static_cast<uint8_t>(0x3001 * 7));
  EXPECT_TRUE(target.breakpoints().empty());
  EXPECT_TRUE(target.watchpoints().empty());
  EXPECT_FALSE(target.killed);
  EXPECT_EQ(target.memory_reads.load(), 0u);
  EXPECT_EQ(target.reverse_step({}).kind, StopInfo::Kind::kReplayBegin);  // history gone
}

TEST(FakeTargetTest, ResetRefillsMemoryWrittenThroughTheAccessor) {
  FakeTarget target;
  target.memory()[0x10] = 0xff;
  target.reset();
  EXPECT_EQ(target.memory()[0x10], static_cast<uint8_t>(0x10 * 7));
}

TEST(FakeTargetTest, HistoryKeepsTheLast65536Steps) {
  FakeTarget target;
  target.reverse_enabled = true;
  target.exit_at.reset();
  constexpr uint64_t kSteps = (1 << 17) + 5;  // past the bound twice, so it trims
  for (uint64_t i = 0; i < kSteps; ++i) {
    ASSERT_EQ(target.resume(ResumeAction::kStep, {}).kind, StopInfo::Kind::kSignal);
  }
  EXPECT_EQ(target.rip(), FakeTarget::kStartRip + kSteps);
  EXPECT_EQ(target.reverse_continue({}).kind, StopInfo::Kind::kReplayBegin);
  EXPECT_EQ(target.rip(), FakeTarget::kStartRip + kSteps - (1 << 16));
  EXPECT_EQ(get_register(target.regs(), kRax), 0x1122334455667788u + kSteps - (1 << 16));
}

}  // namespace
}  // namespace hlrr::rsp
