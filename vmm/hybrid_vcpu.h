// HybridVcpu: a hardware vCPU with a software fallback, composed. The hardware vCPU (KVM) runs
// the guest while it can honour the debugger's breakpoints and watchpoints; while it cannot
// (watchpoints, or more breakpoints than it has debug registers), a software vCPU over the same
// guest memory runs it instead, and run() moves the register file over and back, so callers see
// one vCPU. The hardware vCPU holds the guest's registers between runs.
//
// Built by the vCPU factory for KVM (vmm/vcpu_factory.h). Driven from one thread; only
// request_stop() may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "vmm/vcpu.h"

namespace hlrr::vmm {

class HybridVcpu final : public Vcpu {
 public:
  using SoftwareFactory = std::function<base::Expected<std::unique_ptr<Vcpu>>()>;

  // `make_software` creates the fallback the first time a debug point set needs it.
  HybridVcpu(std::unique_ptr<Vcpu> hardware, SoftwareFactory make_software, uint64_t memory_size);

  // The hardware's name: a recording made through the fallback is still a KVM recording.
  std::string_view backend_name() const override { return hardware_->backend_name(); }
  VcpuExit run(const RunOptions& options) override;
  base::Expected<RegisterFile> registers() override { return hardware_->registers(); }
  base::Status set_registers(const RegisterFile& regs) override {
    return hardware_->set_registers(regs);
  }
  void set_io_in_result(uint32_t value) override;
  void set_nondet_result(uint64_t value, uint64_t extra) override;
  void set_fpu_static(bool is_static) override;
  bool counts_instructions() const override { return hardware_->counts_instructions(); }
  uint64_t instruction_count() const override { return hardware_->instruction_count(); }
  void set_instruction_count(uint64_t count) override { hardware_->set_instruction_count(count); }
  base::Status set_dirty_tracking(bool enabled) override;
  void code_modified(uint64_t gpa, uint64_t len) override;
  // Any set within guest memory: the hardware's when it supports it, else the software's.
  base::Status set_debug_points(std::span<const DebugPoint> points) override;

  // Whether the software vCPU runs the guest now (tests).
  bool on_software() const { return on_software_; }

 protected:
  // Passes the pending stop on to the engine running now (its own generation for this run).
  void kick() override;

 private:
  // Runs `engine` for one run of this vCPU, forwarding stop requests to it.
  VcpuExit run_engine(Vcpu& engine, const RunOptions& options);
  VcpuExit run_on_software(const RunOptions& options);
  // The engine that produced the last exit completed it: bring its registers back.
  void sync_from_software();

  std::unique_ptr<Vcpu> hardware_;
  SoftwareFactory make_software_;
  uint64_t memory_size_ = 0;
  std::unique_ptr<Vcpu> software_;
  bool on_software_ = false;
  bool last_exit_from_software_ = false;
  bool dirty_tracking_ = false;
  bool fpu_static_ = false;
  // The engine whose run() is in progress: kick() passes a stop request on to it.
  std::atomic<Vcpu*> running_{nullptr};
};

}  // namespace hlrr::vmm
