// The software vCPU's instruction count: one definition (docs/replay.md) that free runs, single
// steps, runs to a limit and the exits the backend performs itself all agree on.
#include <gtest/gtest.h>

#include <vector>

#include "hl_abi.h"
#include "vmm/code_scan.h"
#include "vmm/long_mode.h"
#include "vmm/sandbox.h"
#include "vmm/unicorn_vcpu.h"

namespace hlrr::vmm {
namespace {

std::string guest(const char* name) {
  return std::string(HLRR_GUEST_DIR) + "/" + name + ".elf";
}

std::unique_ptr<Sandbox> unicorn_sandbox(const char* name) {
  SandboxConfig config;
  config.vcpu = VcpuKind::kUnicorn;
  config.output = [](std::string_view) {};
  auto sandbox = Sandbox::create_from_file(guest(name), std::move(config));
  EXPECT_TRUE(sandbox.has_value()) << (sandbox ? "" : sandbox.error().message);
  return sandbox ? std::move(*sandbox) : nullptr;
}

struct CallRun {
  uint64_t instructions = 0;
  Value result;
  std::vector<uint64_t> rips;  // RIP after each step (single-stepped runs only)
};

// Runs one guest call from `snapshot` with the count starting at 0.
CallRun run_call(Sandbox& sandbox, const Snapshot& snapshot, const char* fn,
                 std::vector<Value> args, RunOptions options, bool record_rips = false) {
  EXPECT_TRUE(sandbox.restore(snapshot));
  sandbox.vcpu().set_instruction_count(0);
  EXPECT_TRUE(sandbox.begin_call(fn, args));
  CallRun run;
  for (;;) {
    const uint64_t before = sandbox.vcpu().instruction_count();
    const uint64_t exits_before = sandbox.exit_count();
    RunOutcome outcome = sandbox.resume(options);
    if (outcome.kind == RunOutcome::Kind::kPaused) {
      EXPECT_EQ(outcome.exit.kind,
                options.single_step ? ExitKind::kDebug : ExitKind::kInstructionLimit);
      // One step, plus each `out`/`hlt` that resume() served on the way (one instruction each).
      if (options.single_step) {
        EXPECT_EQ(sandbox.vcpu().instruction_count(),
                  before + (sandbox.exit_count() - exits_before));
      }
      if (record_rips) run.rips.push_back(sandbox.vcpu().registers()->rip);
      continue;
    }
    EXPECT_EQ(outcome.kind, RunOutcome::Kind::kReturned) << outcome.fault.to_string();
    run.result = outcome.value;
    run.instructions = sandbox.vcpu().instruction_count();
    return run;
  }
}

TEST(InstructionCount, FreeRunSingleStepsAndLimitsAgreeOverWholeCalls) {
  struct Case {
    const char* guest;
    const char* fn;
    std::vector<Value> args;
  };
  const Case cases[] = {
      {"compute", "fib", {int64_t{30}}},
      {"compute", "sort_hash", {int64_t{40}, int64_t{7}}},
      {"hello", "greet", {std::string("counting")}},
      {"buggy", "add_sample", {int64_t{5}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.guest) + "." + c.fn);
    auto sandbox = unicorn_sandbox(c.guest);
    ASSERT_TRUE(sandbox);
    const Snapshot start = sandbox->snapshot();
    const CallRun free_run = run_call(*sandbox, start, c.fn, c.args, {});
    const CallRun free_again = run_call(*sandbox, start, c.fn, c.args, {});
    const CallRun stepped = run_call(*sandbox, start, c.fn, c.args, {.single_step = true});
    const CallRun limited = run_call(*sandbox, start, c.fn, c.args, {.max_instructions = 37});
    EXPECT_GT(free_run.instructions, 100u);
    EXPECT_EQ(free_run.instructions, free_again.instructions);
    EXPECT_EQ(free_run.instructions, stepped.instructions);
    EXPECT_EQ(free_run.instructions, limited.instructions);
    EXPECT_EQ(free_run.result, stepped.result);
    EXPECT_EQ(free_run.result, limited.result);
  }
}

TEST(InstructionCount, RunToACountLandsWhereSteppingDoes) {
  const std::vector<Value> args = {int64_t{25}, int64_t{3}};
  CallRun stepped;
  {
    auto sandbox = unicorn_sandbox("compute");
    ASSERT_TRUE(sandbox);
    stepped = run_call(*sandbox, sandbox->snapshot(), "sort_hash", args, {.single_step = true},
                       /*record_rips=*/true);
  }
  ASSERT_GT(stepped.rips.size(), 2000u);
  // Run straight to count k (one limited run, no stepping): RIP and count must match the k-th
  // single step. The points include block starts and mid-block instructions.
  for (uint64_t k : {1ull, 2ull, 3ull, 17ull, 64ull, 333ull, 1000ull, 1001ull, 1999ull}) {
    SCOPED_TRACE(k);
    // A fresh sandbox each time: a paused call can't be abandoned.
    auto sandbox = unicorn_sandbox("compute");
    ASSERT_TRUE(sandbox);
    sandbox->vcpu().set_instruction_count(0);
    ASSERT_TRUE(sandbox->begin_call("sort_hash", args));
    // No host call comes before instruction 2000 of sort_hash: one run reaches the limit.
    const RunOutcome outcome = sandbox->resume({.max_instructions = k});
    ASSERT_EQ(outcome.kind, RunOutcome::Kind::kPaused);
    EXPECT_EQ(sandbox->vcpu().instruction_count(), k);
    EXPECT_EQ(sandbox->vcpu().registers()->rip, stepped.rips[k - 1]);
  }
}

// REP string instructions: Unicorn (QEMU) executes one iteration per pass and re-enters the
// instruction for the next, plus once more to find RCX exhausted: `rep stosb` with RCX = n
// counts n + 1 by every path.
TEST(InstructionCount, RepStringCountsOncePerIterationPlusOne) {
  auto memory = GuestMemory::create(4 << 20);
  ASSERT_TRUE(memory);
  ASSERT_TRUE(write_descriptor_tables(*memory));
  // mov ecx, 5; mov edi, 0x200000; rep stosb; inc eax; hlt
  const std::vector<uint8_t> code = {0xB9, 5,    0,    0,    0,    0xBF, 0x00, 0x00,
                                     0x20, 0x00, 0xF3, 0xAA, 0xFF, 0xC0, 0xF4};
  const uint64_t at = HL_IMAGE_BASE;
  ASSERT_TRUE(memory->write(at, code));
  const CodeRange range{at, code};
  auto vcpu = UnicornVcpu::create(*memory, scan_code({&range, 1}));
  ASSERT_TRUE(vcpu);
  const auto reset = [&] {
    ASSERT_TRUE((*vcpu)->set_registers(initial_registers(at)));
    (*vcpu)->set_instruction_count(0);
  };
  // mov, mov, 5 iterations + 1, inc, hlt
  const uint64_t expected = 2 + 6 + 1 + 1;
  reset();
  EXPECT_EQ((*vcpu)->run({}).kind, ExitKind::kHalt);
  EXPECT_EQ((*vcpu)->instruction_count(), expected);
  reset();
  uint64_t steps = 0;
  std::vector<uint64_t> rcx;
  for (;;) {
    const VcpuExit exit = (*vcpu)->run({.single_step = true});
    ++steps;
    if (exit.kind == ExitKind::kHalt) break;
    ASSERT_EQ(exit.kind, ExitKind::kDebug);
    ASSERT_EQ((*vcpu)->instruction_count(), steps);
    rcx.push_back((*vcpu)->registers()->rcx);
  }
  EXPECT_EQ(steps, expected);
  EXPECT_EQ((*vcpu)->instruction_count(), expected);
  // After mov, mov, then each pass of the rep: RCX 5, 5, 4, 3, 2, 1, 0 ...
  ASSERT_GE(rcx.size(), 8u);
  EXPECT_EQ(rcx[1], 5u);
  EXPECT_EQ(rcx[2], 4u);
  EXPECT_EQ(rcx[6], 0u);
  // Stop in the middle of the rep, then run on: the total is unchanged.
  reset();
  EXPECT_EQ((*vcpu)->run({.max_instructions = 4}).kind, ExitKind::kInstructionLimit);
  EXPECT_EQ((*vcpu)->instruction_count(), 4u);
  EXPECT_EQ((*vcpu)->registers()->rip, at + 10);
  EXPECT_EQ((*vcpu)->registers()->rcx, 3u);
  EXPECT_EQ((*vcpu)->run({}).kind, ExitKind::kHalt);
  EXPECT_EQ((*vcpu)->instruction_count(), expected);
}

}  // namespace
}  // namespace hlrr::vmm
