// ScriptedVcpu: a fake vCPU that plays a script of exits, for unit tests of the exit loop
// (Sandbox) without a guest or an engine. Each run() takes the next step: it first lets the step
// act as the guest would (write a message into guest memory, move RIP), then returns its exit.
// What the host did to the vCPU (results supplied, registers set, stops requested) is kept for
// the test to check.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/vcpu.h"

namespace hlrr::vmm::testing {

class ScriptedVcpu final : public Vcpu {
 public:
  struct Step {
    VcpuExit exit;
    // The guest's part before the exit: memory and registers as it leaves them.
    std::function<void(GuestMemory&, RegisterFile&)> guest;
  };

  ScriptedVcpu(GuestMemory& memory, std::vector<Step> script)
      : memory_(memory), script_(std::move(script)) {}

  std::string_view backend_name() const override { return "scripted"; }

  VcpuExit run(const RunOptions& options) override {
    runs.push_back(options);
    if (next_ == script_.size()) {
      return VcpuExit{.kind = ExitKind::kInternalError, .detail = "the script has ended"};
    }
    Step& step = script_[next_++];
    if (step.guest) step.guest(memory_, regs_);
    return step.exit;
  }
  base::Expected<RegisterFile> registers() override { return regs_; }
  base::Status set_registers(const RegisterFile& regs) override {
    regs_ = regs;
    registers_set.push_back(regs.rip);
    return {};
  }
  void set_io_in_result(uint32_t value) override { io_in_results.push_back(value); }
  void set_nondet_result(uint64_t value, uint64_t extra) override {
    nondet_results.emplace_back(value, extra);
    regs_.rip += 2;  // past the rdtsc the script stopped before
  }
  void kick() override { ++stop_requests; }
  base::Status set_dirty_tracking(bool) override { return {}; }
  void code_modified(uint64_t, uint64_t) override {}
  base::Status set_debug_points(std::span<const DebugPoint>) override { return {}; }

  bool script_done() const { return next_ == script_.size(); }

  std::vector<RunOptions> runs;
  std::vector<uint64_t> registers_set;  // the RIP of each set_registers()
  std::vector<uint32_t> io_in_results;
  std::vector<std::pair<uint64_t, uint64_t>> nondet_results;
  int stop_requests = 0;

 private:
  GuestMemory& memory_;
  std::vector<Step> script_;
  size_t next_ = 0;
  RegisterFile regs_;
};

}  // namespace hlrr::vmm::testing
