// Differential test of the two backends (the identity a KVM recording's replay on the software
// vCPU rests on): every example guest runs the same calls on KVM and on the software vCPU, and
// at every exit the guest-visible register file and all of guest memory must be identical.
// The first difference fails the test, naming the exit and the register or byte.
#include <gtest/gtest.h>

#include <cstring>

#include "hl_abi.h"
#include "tests/integration/guests.h"

namespace hlrr::testing {
namespace {

using vmm::Value;

struct Observation {
  std::string what;  // "start fib", "exit io-out port 0x6c00", "end 55"
  vmm::RegisterFile registers;
  std::vector<uint8_t> memory;
};

// Captures registers and a copy of guest memory at every event.
class Capture : public vmm::ExitObserver {
 public:
  explicit Capture(vmm::GuestMemory& memory) : memory_(memory) {}
  void on_call_start(std::string_view function, std::span<const Value>,
                     const vmm::RegisterFile& regs, std::span<const vmm::HostWrite>) override {
    add("start " + std::string(function), regs);
  }
  void on_exit(const vmm::VcpuExit& exit, const vmm::RegisterFile& regs,
               std::span<const vmm::HostWrite>) override {
    char port[32] = "";
    if (exit.kind == vmm::ExitKind::kIoOut)
      std::snprintf(port, sizeof port, " port 0x%x", exit.port);
    add(std::string("exit ") + vmm::to_string(exit.kind) + port + " vector " +
            std::to_string(exit.vector),
        regs);
  }
  void on_call_end(const base::Expected<Value, vmm::Fault>& result) override {
    add(result ? "end " + vmm::to_string(*result) : "fault " + result.error().to_string(), {});
  }
  std::vector<Observation> observations;

 private:
  void add(std::string what, const vmm::RegisterFile& regs) {
    observations.push_back(
        {std::move(what), regs,
         std::vector<uint8_t>(memory_.host_base(), memory_.host_base() + memory_.size())});
  }
  vmm::GuestMemory& memory_;
};

struct Scenario {
  const char* guest;
  std::vector<std::pair<std::string, std::vector<Value>>> calls;
};

std::vector<Observation> run_scenario(const Scenario& scenario, vmm::VcpuKind kind) {
  vmm::SandboxConfig config;
  config.vcpu = kind;
  config.output = [](std::string_view) {};
  int64_t clock = 0;
  config.host_functions.add(
      "clock_ns", {{}, vmm::ValueType::kI64},
      [&clock](std::span<const Value>) -> base::Expected<Value> { return clock += 1000; });
  auto image = vmm::ElfImage::read_file(guest_path(scenario.guest));
  EXPECT_TRUE(image.has_value());
  auto sandbox = vmm::Sandbox::load(*image, config);
  EXPECT_TRUE(sandbox.has_value()) << sandbox.error().message;
  if (!sandbox) return {};
  Capture capture((*sandbox)->memory());
  (*sandbox)->set_exit_observer(&capture);
  EXPECT_EQ((*sandbox)->resume().kind, vmm::RunOutcome::Kind::kReturned);
  for (const auto& [name, args] : scenario.calls) (void)(*sandbox)->call(name, args);
  return std::move(capture.observations);
}

class Differential : public ::testing::TestWithParam<Scenario> {};

TEST_P(Differential, KvmAndTheSoftwareVcpuAgreeAtEveryExit) {
  if (auto usable = vmm::KvmVcpu::available(); !usable) {
    GTEST_SKIP() << "KVM not usable here: " << usable.error().message;
  }
  const Scenario& scenario = GetParam();
  const auto kvm = run_scenario(scenario, vmm::VcpuKind::kKvm);
  const auto soft = run_scenario(scenario, vmm::VcpuKind::kUnicorn);
  ASSERT_FALSE(soft.empty());
  for (size_t i = 0; i < std::min(kvm.size(), soft.size()); ++i) {
    const Observation& k = kvm[i];
    const Observation& s = soft[i];
    ASSERT_EQ(k.what, s.what) << "event " << i;
    // fop/fip/fdp are CPU-dependent on hardware (register_file.h): not compared across backends.
    if (auto diff = vmm::first_difference(k.registers, s.registers, ~0ull, false)) {
      FAIL() << "event " << i << " (" << k.what << "): kvm vs unicorn: " << *diff;
    }
    for (size_t b = 0; b < k.memory.size(); ++b) {
      // KVM delivers exceptions through the guest's IDT, whose stubs write their frame on the
      // exception stack; the software vCPU reports exceptions without running them.
      const bool exception_stack =
          b >= HL_EXCEPTION_STACK_TOP - 0x4000 && b < HL_EXCEPTION_STACK_TOP;
      if (k.memory[b] != s.memory[b] && !exception_stack) {
        FAIL() << "event " << i << " (" << k.what << "): guest memory differs at 0x" << std::hex
               << b << ": kvm 0x" << int(k.memory[b]) << ", unicorn 0x" << int(s.memory[b]);
      }
    }
  }
  EXPECT_EQ(kvm.size(), soft.size());
}

INSTANTIATE_TEST_SUITE_P(
    Examples, Differential,
    ::testing::Values(
        Scenario{"hello", {{"hello", {}}, {"greet", {std::string("differential")}}}},
        Scenario{"compute", {{"fib", {int64_t{50}}}, {"sort_hash", {int64_t{300}, int64_t{3}}}}},
        Scenario{"chatty", {{"chatter", {int64_t{25}}}}},
        Scenario{"buggy", {{"add_sample", {int64_t{4}}}, {"mean", {}}, {"reset", {}}}},
        Scenario{"faults",
                 {{"null_deref", {}},
                  {"undefined_instruction", {}},
                  {"divide_by_zero", {int64_t{0}}},
                  {"general_protection", {}},
                  {"out_of_bounds", {}},
                  {"wild_pointer", {}},
                  {"panic", {}},
                  {"stack_overflow", {int64_t{0}}},
                  {"still_alive", {}}}}),
    [](const auto& info) { return std::string(info.param.guest); });

}  // namespace
}  // namespace hlrr::testing
