// Stop requests carry a cause and a generation (vmm/stop_request.h): one request suffices, a
// stale one is harmless. And the watchdog asks once.
#include "vmm/stop_request.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "vmm/sandbox.h"
#include "vmm/watchdog.h"

namespace hlrr::vmm {
namespace {

TEST(StopRequest, ARequestOfTheCurrentGenerationIsPendingUntilTaken) {
  StopRequest stop;
  const uint64_t gen = stop.begin_generation();
  EXPECT_EQ(stop.pending(), StopCause::kNone);
  EXPECT_TRUE(stop.request(StopCause::kTimeout, gen));
  EXPECT_EQ(stop.pending(), StopCause::kTimeout);
  EXPECT_EQ(stop.take(), StopCause::kTimeout);
  EXPECT_EQ(stop.take(), StopCause::kNone);
}

TEST(StopRequest, TheFirstCauseWins) {
  StopRequest stop;
  const uint64_t gen = stop.begin_generation();
  EXPECT_TRUE(stop.request(StopCause::kInterrupt, gen));
  EXPECT_FALSE(stop.request(StopCause::kTimeout, gen));
  EXPECT_EQ(stop.take(), StopCause::kInterrupt);
}

TEST(StopRequest, AStaleGenerationIsIgnored) {
  StopRequest stop;
  const uint64_t old = stop.begin_generation();
  const uint64_t now = stop.begin_generation();
  EXPECT_EQ(now, old + 1);
  EXPECT_FALSE(stop.request(StopCause::kInterrupt, old));
  EXPECT_EQ(stop.pending(), StopCause::kNone);
  // A request pending when a new generation begins is dropped with its generation.
  EXPECT_TRUE(stop.request(StopCause::kInterrupt, now));
  stop.begin_generation();
  EXPECT_EQ(stop.pending(), StopCause::kNone);
}

TEST(Watchdog, ExpiresOnce) {
  std::atomic<int> calls{0};
  Watchdog watchdog([&] { ++calls; });
  watchdog.arm_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_TRUE(watchdog.fired());
  EXPECT_EQ(calls.load(), 1);  // not repeated: the request it makes is never lost
  EXPECT_TRUE(watchdog.disarm());
}

}  // namespace
}  // namespace hlrr::vmm

namespace hlrr::vmm {
namespace {

// On the software vCPU (exact, and always here): a guest call spinning in `infinite_loop`.
class SandboxStop : public ::testing::Test {
 protected:
  void SetUp() override {
    SandboxConfig config;
    config.vcpu = VcpuKind::kUnicorn;
    config.timeout = timeout_;
    auto sandbox = Sandbox::create_from_file(std::string(HLRR_GUEST_DIR) + "/faults.elf", config);
    ASSERT_TRUE(sandbox) << sandbox.error().message;
    sandbox_ = std::move(*sandbox);
    ASSERT_TRUE(sandbox_->begin_call("infinite_loop"));
  }
  std::string function_at_rip() {
    auto regs = sandbox_->vcpu().registers();
    const auto* symbol = sandbox_->image().symbols().find_containing(regs->rip);
    return symbol ? symbol->name : "?";
  }
  std::chrono::milliseconds timeout_{0};
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(SandboxStop, ARequestBeforeTheRunStopsItWithItsCause) {
  Vcpu& vcpu = sandbox_->vcpu();
  const uint64_t generation = vcpu.begin_stop_generation();
  EXPECT_TRUE(vcpu.request_stop(StopCause::kInterrupt, generation));
  const RunOutcome outcome = sandbox_->resume();
  ASSERT_EQ(outcome.kind, RunOutcome::Kind::kPaused);
  EXPECT_EQ(outcome.exit.kind, ExitKind::kStopped);
  EXPECT_EQ(outcome.exit.stop_cause, StopCause::kInterrupt);
}

TEST_F(SandboxStop, ARequestWhileRunningStopsItWithItsCause) {
  Vcpu& vcpu = sandbox_->vcpu();
  const uint64_t generation = vcpu.begin_stop_generation();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(vcpu.request_stop(StopCause::kInterrupt, generation));
  });
  const RunOutcome outcome = sandbox_->resume();
  stopper.join();
  ASSERT_EQ(outcome.kind, RunOutcome::Kind::kPaused);
  EXPECT_EQ(outcome.exit.kind, ExitKind::kStopped);
  EXPECT_EQ(outcome.exit.stop_cause, StopCause::kInterrupt);
  EXPECT_EQ(function_at_rip(), "infinite_loop");
}

TEST_F(SandboxStop, ARequestAfterTheRunOfAnEarlierGenerationIsHarmless) {
  Vcpu& vcpu = sandbox_->vcpu();
  const uint64_t old = vcpu.begin_stop_generation();
  RunOutcome outcome = sandbox_->resume(RunOptions{.max_instructions = 1000});
  ASSERT_EQ(outcome.exit.kind, ExitKind::kInstructionLimit);
  vcpu.begin_stop_generation();  // the next resume
  EXPECT_FALSE(vcpu.request_stop(StopCause::kInterrupt, old));
  outcome = sandbox_->resume(RunOptions{.max_instructions = 1000});
  EXPECT_EQ(outcome.exit.kind, ExitKind::kInstructionLimit);
}

class SandboxTimeout : public SandboxStop {
 protected:
  SandboxTimeout() { timeout_ = std::chrono::milliseconds(100); }
};

TEST_F(SandboxTimeout, ADeadlinePassedWhileStoppedEndsTheNextResumeAsATimeout) {
  RunOutcome outcome = sandbox_->resume(RunOptions{.max_instructions = 1000});
  ASSERT_EQ(outcome.exit.kind, ExitKind::kInstructionLimit);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the watchdog asks once
  sandbox_->vcpu().begin_stop_generation();  // a debugger's resume: that request is stale
  outcome = sandbox_->resume();
  ASSERT_EQ(outcome.kind, RunOutcome::Kind::kFaulted);
  EXPECT_EQ(outcome.fault.kind, FaultKind::kTimeout);
  EXPECT_EQ(function_at_rip(), "infinite_loop");
}

}  // namespace
}  // namespace hlrr::vmm
