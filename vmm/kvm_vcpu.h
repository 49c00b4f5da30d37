// KvmVcpu: the hardware vCPU, on Linux KVM through <linux/kvm.h> (one VM, one vCPU, guest memory
// as one memory slot at GPA 0 from GuestMemory's host mapping, shared with the software vCPU).
//
// Same contract as UnicornVcpu: the same exits, RIP, guest-visible registers and memory for the
// same guest. Exceptions go through the guest IDT built by write_descriptor_tables(); the stub's
// `out` to HL_PORT_EXCEPTION is turned back into a kException with the pre-exception state
// restored. docs/kvm.md lists what this backend measures and works around (kvm_pvm here).
// Threads: run() binds the vCPU to the thread of its first run, for good (KVM's rule: a vCPU's
// ioctls from one thread); a run from another thread is an HLRR_CHECK failure.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmm/code_scan.h"
#include "vmm/cpu_model.h"
#include "vmm/guest_memory.h"
#include "vmm/vcpu.h"

namespace hlrr::vmm {

class KvmVcpu final : public Vcpu {
 public:
  // Ok if /dev/kvm can be opened and speaks API version 12 with the capabilities this backend
  // needs; otherwise one line saying why ("/dev/kvm: No such file or directory").
  static base::Status available();

  // `memory` must outlive the vCPU and already hold the page and descriptor tables. `sites`
  // (the code scan's) name refused string I/O; KVM traps port I/O and hlt itself.
  static base::Expected<std::unique_ptr<KvmVcpu>> create(GuestMemory& memory,
                                                         std::vector<InstructionSite> sites);
  ~KvmVcpu() override;

  std::string_view backend_name() const override { return "kvm"; }
  VcpuExit run(const RunOptions& options) override;
  base::Expected<RegisterFile> registers() override;
  // Control registers (CR0/CR3/CR4/EFER) are owned by the backend and keep their long-mode
  // values; selectors must be ones of the hlrr GDT (0, 0x08, 0x10).
  base::Status set_registers(const RegisterFile& regs) override;
  void set_io_in_result(uint32_t value) override;
  // KVM_MEM_LOG_DIRTY_PAGES on the memory slot; the log's collector reads KVM_GET_DIRTY_LOG.
  base::Status set_dirty_tracking(bool enabled) override;
  // Whether the guest's `cpuid` answers from canonical_cpuid() (KVM accepted KVM_SET_CPUID2).
  // False on a KVM that refuses CPUID ioctls (kvm_pvm here): `cpuid` then answers zeros for
  // every leaf, and a recording should warn about guests that execute it (docs/kvm.md).
  bool cpuid_matches_model() const { return cpuid_installed_; }
  // For a KVM that refuses KVM_SET_CPUID2: answers `cpuid` at these guest addresses (at most 4,
  // the hardware breakpoints) from canonical_cpuid() in the VMM, as the software vCPU answers.
  // Replaces the previous list; an empty list turns it off. The addresses come from a code scan.
  base::Status emulate_cpuid_at(std::vector<uint64_t> addresses);
  // kvm_pvm here loses the guest FPU state across some KVM_RUNs (docs/kvm.md): for a static
  // FPU the state set is reported rather than read back.
  void set_fpu_static(bool is_static) override { fpu_static_ = is_static; }
  // KVM executes guest memory directly: it has no translations to drop.
  void code_modified(uint64_t /*gpa*/, uint64_t /*len*/) override {}
  // Breakpoints use the debug registers DR0-3 left free by the cpuid sites (KVM_SET_GUEST_DEBUG:
  // int3 fails on kvm_pvm, DR instruction breakpoints work everywhere). Watchpoints (DR data
  // breakpoints never fire on kvm_pvm) and more breakpoints than free DRs are refused: the
  // vCPU factory composes KVM with a software fallback that runs the guest while they are set
  // (vmm/hybrid_vcpu.h).
  bool supports_debug_points(std::span<const DebugPoint> points) const override;
  base::Status set_debug_points(std::span<const DebugPoint> points) override;

 protected:
  void kick() override;

 private:
  KvmVcpu(GuestMemory& memory, std::vector<InstructionSite> sites);
  // Set-up (kvm_vcpu.cc), in this order.
  base::Status init();
  base::Status open_vm();
  base::Status install_cpuid();
  base::Status enter_long_mode();
  base::Status init_registers();
  bool at_breakpoint(uint64_t rip) const;
  base::Status set_memory_slot(bool log_dirty);
  // Marks the pages KVM_GET_DIRTY_LOG reports (and clears) in the memory's dirty-page log.
  base::Status pull_dirty_log();
  // KVM_SET_GUEST_DEBUG for single-stepping and the cpuid breakpoints.
  base::Status set_guest_debug(bool single_step);
  bool at_cpuid_breakpoint() const;
  void emulate_cpuid();
  // Binds the vCPU to the thread of its first run; HLRR_CHECKs every later run is on it.
  void bind_to_thread();
  // KVM_RUN once; returns the ioctl's errno (0 on success).
  int enter();
  // Finishes the I/O or MMIO instruction KVM exited for without running further guest code.
  base::Status complete_pending();
  VcpuExit translate_exit(int err, const RunOptions& options, uint64_t start_rip);
  VcpuExit debug_exit(const RunOptions& options, uint64_t start_rip);
  VcpuExit io_exit();
  VcpuExit exception_exit(uint8_t vector);
  VcpuExit mmio_exit();
  std::optional<uint64_t> store_start(const kvm_regs& regs, uint64_t address, uint32_t length);
  VcpuExit emulation_failure();
  // Register state: kvm_run's sync area when KVM_CAP_SYNC_REGS is there, else ioctls.
  kvm_regs& regs() { return sync_regs_ ? run_->s.regs.regs : regs_copy_; }
  kvm_sregs& sregs() { return sync_regs_ ? run_->s.regs.sregs : sregs_copy_; }
  base::Status load_state();
  base::Status flush_state();
  void mark_regs_dirty() { regs_dirty_ = true; }
  void mark_sregs_dirty() { sregs_dirty_ = true; }

  GuestMemory& memory_;
  std::vector<InstructionSite> sites_;
  int kvm_fd_ = -1;
  int vm_fd_ = -1;
  int vcpu_fd_ = -1;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;

  bool sync_regs_ = false;
  kvm_regs regs_copy_{};
  kvm_sregs sregs_copy_{};
  bool regs_dirty_ = false;
  bool sregs_dirty_ = false;

  std::vector<CpuidEntry> cpuid_table_;  // canonical_cpuid()
  std::vector<uint64_t> cpuid_sites_;    // emulated with hardware breakpoints
  bool cpuid_installed_ = true;          // false where KVM refuses KVM_SET_CPUID2 (docs/kvm.md)
  kvm_fpu fpu_{};  // KVM_GET_FPU's answer since the last KVM_RUN, when fpu_valid_
  bool fpu_valid_ = false;
  bool fpu_static_ = false;     // see set_fpu_static()
  bool mxcsr_readable_ = true;  // false where KVM_GET_FPU reads MXCSR as 0 (docs/kvm.md)
  uint32_t mxcsr_shadow_ = 0;
  bool single_step_ = false;
  bool dirty_tracking_ = false;
  std::vector<uint64_t> dirty_bitmap_;  // KVM_GET_DIRTY_LOG's answer
  uint8_t pending_in_size_ = 0;

  // Debug points (set_debug_points()).
  std::vector<uint64_t> breakpoints_;  // on the DRs after the cpuid sites
  uint64_t performed_to_ = ~0ull;      // RIP after an I/O/hlt exit or a move (see run())

  std::atomic<bool> running_{false};
  pthread_t thread_{};  // the thread of the first run(): bind_to_thread()
  bool thread_bound_ = false;
};

}  // namespace hlrr::vmm
