// Sandbox's exit loop over a scripted fake vCPU: no guest code, no engine. Each test scripts the
// exits a guest would cause and checks what the loop makes of them: host-call results written
// for the guest, call results, faults, pauses, and what an exit observer sees, in order.
#include <gtest/gtest.h>

#include "hl_abi.h"
#include "tests/vmm/elf_builder.h"
#include "tests/vmm/scripted_vcpu.h"
#include "vmm/guest_messages.h"
#include "vmm/sandbox.h"

namespace hlrr::vmm {
namespace {

using testing::ScriptedVcpu;
using Step = ScriptedVcpu::Step;

constexpr uint64_t kDispatcher = HL_IMAGE_BASE + 0x10;

// The guest's side of the ABI, as the runtime does it before its `out`/`hlt`.
std::function<void(GuestMemory&, RegisterFile&)> guest_writes(uint32_t kind, std::string name,
                                                              std::vector<Value> args,
                                                              uint64_t rip = 0) {
  return [=](GuestMemory& memory, RegisterFile& regs) {
    ASSERT_TRUE(write_message(memory, HL_OUT_AREA, HL_OUT_AREA_SIZE, kind, name, args));
    if (rip) regs.rip = rip;
  };
}

VcpuExit out(uint16_t port, uint32_t data = 0) {
  return VcpuExit{.kind = ExitKind::kIoOut, .port = port, .size = 1, .data = data};
}
VcpuExit halt() {
  return VcpuExit{.kind = ExitKind::kHalt};
}

// Everything an exit observer is told, one line per event.
class EventLog : public ExitObserver {
 public:
  void on_call_start(std::string_view function, std::span<const Value> args,
                     const RegisterFile& registers, std::span<const HostWrite>) override {
    events.push_back("start " + std::string(function) + " args=" + std::to_string(args.size()) +
                     " rip=" + std::to_string(registers.rip - HL_IMAGE_BASE));
  }
  void on_exit(const VcpuExit& exit, const RegisterFile& registers,
               std::span<const HostWrite> writes) override {
    std::string line = std::string("exit ") + to_string(exit.kind) +
                       " rip=" + std::to_string(registers.rip - HL_IMAGE_BASE);
    for (const HostWrite& w : writes) {
      if (w.address == HL_REPLY_AREA) line += " reply";
    }
    events.push_back(line);
  }
  void on_nondet(NondetInstruction kind, uint64_t rip, uint64_t value, uint64_t) override {
    events.push_back(std::string("nondet ") + to_string(kind) +
                     " rip=" + std::to_string(rip - HL_IMAGE_BASE));
    nondet_values.push_back(value);
  }
  void on_call_end(const base::Expected<Value, Fault>& result) override {
    if (result) {
      const auto* v = std::get_if<int64_t>(&*result);
      events.push_back("end " + (v ? std::to_string(*v) : std::string("?")));
    } else {
      events.push_back(std::string("end fault ") + to_string(result.error().kind));
    }
  }
  std::vector<std::string> events;
  std::vector<uint64_t> nondet_values;
};

class ExitLoopTest : public ::testing::Test {
 protected:
  // A sandbox whose vCPU plays `script` after an initialisation that reports the dispatcher.
  void start(std::vector<Step> script) {
    std::vector<Step> all = {
        {halt(), guest_writes(HL_MSG_READY, "", {static_cast<int64_t>(kDispatcher)})}};
    all.insert(all.end(), std::make_move_iterator(script.begin()),
               std::make_move_iterator(script.end()));
    auto image = ElfImage::parse(testing::build_elf({{HL_IMAGE_BASE, {0xF4}}}, HL_IMAGE_BASE));
    ASSERT_TRUE(image) << image.error().message;
    SandboxConfig config;
    config.vcpu_factory = [&, all = std::move(all)](
                              GuestMemory& memory,
                              const ElfImage&) -> base::Expected<std::unique_ptr<Vcpu>> {
      auto vcpu = std::make_unique<ScriptedVcpu>(memory, all);
      vcpu_ = vcpu.get();
      return std::unique_ptr<Vcpu>(std::move(vcpu));
    };
    config.host_functions.add("add", {{ValueType::kI64, ValueType::kI64}, ValueType::kI64},
                              [](std::span<const Value> a) -> base::Expected<Value> {
                                return std::get<int64_t>(a[0]) + std::get<int64_t>(a[1]);
                              });
    auto sandbox = Sandbox::load(std::move(*image), std::move(config));
    ASSERT_TRUE(sandbox) << sandbox.error().message;
    sandbox_ = std::move(*sandbox);
    sandbox_->set_exit_observer(&log_);
    const RunOutcome init = sandbox_->resume();
    ASSERT_EQ(init.kind, RunOutcome::Kind::kReturned) << init.fault.to_string();
    ASSERT_EQ(sandbox_->dispatch_address(), kDispatcher);
    log_.events.clear();
  }

  ScriptedVcpu* vcpu_ = nullptr;
  std::unique_ptr<Sandbox> sandbox_;
  EventLog log_;
};

TEST_F(ExitLoopTest, ServesHostCallsAndNondetsThenReturnsWhatTheGuestHaltedWith) {
  int64_t reply = 0;
  start({
      {VcpuExit{.kind = ExitKind::kNondet, .nondet = NondetInstruction::kRdtsc},
       [](GuestMemory&, RegisterFile& regs) { regs.rip = kDispatcher + 4; }},
      {out(HL_PORT_HOST_CALL),
       guest_writes(HL_MSG_CALL, "add", {int64_t{40}, int64_t{2}}, kDispatcher + 8)},
      // The guest reads the host's reply, then halts with its own result.
      {halt(),
       [&](GuestMemory& memory, RegisterFile& regs) {
         auto msg = read_message(memory, HL_REPLY_AREA);
         ASSERT_TRUE(msg);
         ASSERT_EQ(msg->kind, HL_MSG_RESULT);
         reply = std::get<int64_t>(msg->args.at(0));
         guest_writes(HL_MSG_RESULT, "", {reply + 100})(memory, regs);
         regs.rip = kDispatcher + 12;
       }},
  });
  auto result = sandbox_->call("work", {});
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(std::get<int64_t>(*result), 142);
  EXPECT_EQ(reply, 42);
  EXPECT_TRUE(vcpu_->script_done());
  ASSERT_EQ(vcpu_->nondet_results.size(), 1u);
  ASSERT_EQ(log_.nondet_values.size(), 1u);
  EXPECT_EQ(vcpu_->nondet_results[0].first, log_.nondet_values[0]);  // recorded as supplied
  EXPECT_EQ(vcpu_->registers_set.back(), kDispatcher);  // every call starts at the dispatcher
  const std::vector<std::string> expected = {
      "start work args=0 rip=16",
      "nondet rdtsc rip=20",
      "exit io-out rip=24 reply",
      "exit halt rip=28",
      "end 142",
  };
  EXPECT_EQ(log_.events, expected);
  EXPECT_EQ(sandbox_->exit_count(), 1u + 2u);  // the initialisation's halt, then two exits
}

TEST_F(ExitLoopTest, AnExceptionEndsTheCallWithItsVectorAddressAndRip) {
  start({{VcpuExit{.kind = ExitKind::kException,
                   .vector = kPageFault,
                   .error_code = 2,
                   .has_address = true,
                   .address = 0xdead0},
          [](GuestMemory&, RegisterFile& regs) { regs.rip = kDispatcher + 6; }}});
  auto result = sandbox_->call("crash", {});
  ASSERT_FALSE(result);
  const Fault& f = result.error();
  EXPECT_EQ(f.kind, FaultKind::kPageFault);
  EXPECT_EQ(f.vector, kPageFault);
  EXPECT_TRUE(f.has_address);
  EXPECT_EQ(f.address, 0xdead0u);
  EXPECT_EQ(f.rip, kDispatcher + 6);
  EXPECT_FALSE(sandbox_->call_in_progress());
  const std::vector<std::string> expected = {"start crash args=0 rip=16", "exit exception rip=22",
                                             "end fault #PF"};
  EXPECT_EQ(log_.events, expected);
}

TEST_F(ExitLoopTest, PortIoToAnUnknownPortIsABadIoFault) {
  start({{out(0x99, 7), nullptr}, {VcpuExit{.kind = ExitKind::kIoIn, .port = 0x60}, nullptr}});
  auto out_result = sandbox_->call("poke", {});
  ASSERT_FALSE(out_result);
  EXPECT_EQ(out_result.error().kind, FaultKind::kBadIo);
  EXPECT_EQ(out_result.error().message, "out to unknown port 0x99");
  auto in_result = sandbox_->call("peek", {});
  ASSERT_FALSE(in_result);
  EXPECT_EQ(in_result.error().kind, FaultKind::kBadIo);
  EXPECT_EQ(in_result.error().message, "in from unknown port 0x60");
  EXPECT_TRUE(vcpu_->io_in_results.empty());  // nothing was supplied for a refused `in`
}

TEST_F(ExitLoopTest, AStopPausesTheCallAndResumeContinuesIt) {
  start({{VcpuExit{.kind = ExitKind::kStopped},
          [](GuestMemory&, RegisterFile& regs) { regs.rip = kDispatcher + 3; }},
         {halt(), guest_writes(HL_MSG_RESULT, "", {int64_t{7}}, kDispatcher + 9)}});
  ASSERT_TRUE(sandbox_->begin_call("slow", {}));
  const RunOutcome paused = sandbox_->resume();
  ASSERT_EQ(paused.kind, RunOutcome::Kind::kPaused);
  EXPECT_EQ(paused.exit.kind, ExitKind::kStopped);
  EXPECT_TRUE(sandbox_->call_in_progress());
  const RunOutcome done = sandbox_->resume();
  ASSERT_EQ(done.kind, RunOutcome::Kind::kReturned) << done.fault.to_string();
  EXPECT_EQ(std::get<int64_t>(done.value), 7);
  const std::vector<std::string> expected = {"start slow args=0 rip=16", "exit stopped rip=19",
                                             "exit halt rip=25", "end 7"};
  EXPECT_EQ(log_.events, expected);
}

TEST_F(ExitLoopTest, ASingleStepEndsOnceTheExitOfItsInstructionIsServed) {
  start({{out(HL_PORT_HOST_CALL),
          guest_writes(HL_MSG_CALL, "add", {int64_t{1}, int64_t{2}}, kDispatcher + 2)},
         {VcpuExit{.kind = ExitKind::kNondet, .nondet = NondetInstruction::kRdtsc}, nullptr},
         {halt(), guest_writes(HL_MSG_RESULT, "", {int64_t{0}})}});
  ASSERT_TRUE(sandbox_->begin_call("step", {}));
  const RunOptions step{.single_step = true};
  for (int i = 0; i < 2; ++i) {
    const RunOutcome paused = sandbox_->resume(step);
    ASSERT_EQ(paused.kind, RunOutcome::Kind::kPaused) << i;
    EXPECT_EQ(paused.exit.kind, ExitKind::kDebug) << i;
  }
  auto reply = read_message(sandbox_->memory(), HL_REPLY_AREA);
  ASSERT_TRUE(reply);
  EXPECT_EQ(std::get<int64_t>(reply->args.at(0)), 3);
  EXPECT_EQ(vcpu_->nondet_results.size(), 1u);
  EXPECT_EQ(sandbox_->resume(step).kind, RunOutcome::Kind::kReturned);
  EXPECT_EQ(vcpu_->runs.size(), 1u + 3u);
  EXPECT_TRUE(vcpu_->runs.back().single_step);
}

TEST_F(ExitLoopTest, AStrayStopEndsAPlainCallAsAnInternalFault) {
  start({{VcpuExit{.kind = ExitKind::kStopped}, nullptr}});
  auto result = sandbox_->call("stray", {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, FaultKind::kInternal);
  EXPECT_EQ(result.error().message, "call paused: stopped");
}

}  // namespace
}  // namespace hlrr::vmm
