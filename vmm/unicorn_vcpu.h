// UnicornVcpu: the software vCPU, on the Unicorn engine (2.0.x). Always available; counts
// instructions exactly when asked to. See docs/vcpu-facts.md for the engine behaviours this
// backend works around (imprecise RIP after I/O hooks and memory faults, ignored paging).
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "vmm/block_counter.h"
#include "vmm/code_log.h"
#include "vmm/code_scan.h"
#include "vmm/guest_memory.h"
#include "vmm/lazy_write_tracking.h"
#include "vmm/vcpu.h"

struct uc_struct;

namespace hlrr::vmm {

class UnicornVcpu final : public Vcpu {
 public:
  // `memory` must outlive the vCPU and already hold the descriptor tables (segment loads read
  // the GDT). `sites` are the port-I/O and non-deterministic instructions of the guest's code.
  static base::Expected<std::unique_ptr<UnicornVcpu>> create(GuestMemory& memory,
                                                             std::vector<InstructionSite> sites);
  ~UnicornVcpu() override;

  std::string_view backend_name() const override { return "unicorn"; }
  VcpuExit run(const RunOptions& options) override;
  base::Expected<RegisterFile> registers() override;
  base::Status set_registers(const RegisterFile& regs) override;
  void set_io_in_result(uint32_t value) override;
  void set_nondet_result(uint64_t value, uint64_t extra) override;
  base::Status set_dirty_tracking(bool enabled) override;
  void set_fpu_static(bool is_static) override { fpu_static_ = is_static; }
  void code_modified(uint64_t gpa, uint64_t len) override;
  // Exact counts from per-block counts (vmm/block_counter.h); see docs/replay.md.
  bool counts_instructions() const override { return true; }
  uint64_t instruction_count() const override { return counter_.count(); }
  void set_instruction_count(uint64_t count) override { counter_.set_count(count); }
  // Breakpoints are per-address code hooks; watchpoints are memory hooks on the watched range
  // plus, while any is set, a code hook on every instruction that stops before the instruction
  // after the access (Unicorn stops only at block ends from a memory hook).
  base::Status set_debug_points(std::span<const DebugPoint> points) override;
  // Whether guest stores go through the dirty-page write hook now (vmm/lazy_write_tracking.h).
  bool write_hook_installed() const { return dirty_hook_ != 0; }
  // The 64-byte lines of code that ran since the previous call (vmm/code_log.h).
  void collect_code_lines(std::vector<uint64_t>& lines) { code_log_.collect(lines); }

 private:
  UnicornVcpu(GuestMemory& memory, std::vector<InstructionSite> sites);
  base::Status init();
  VcpuExit translate_stop(int err, const RunOptions& options);
  VcpuExit memory_fault();
  VcpuExit io_exit(const InstructionSite& site);
  VcpuExit perform_syscall(const InstructionSite& site);
  void reset_run_state();
  // rdtsc & co.: stopped before the instruction; set_nondet_result() performs it.
  VcpuExit nondet_exit(const InstructionSite& site);
  uint64_t read_reg(int reg);
  // Instruction counting: one emulation run up to `limit` instructions (0: none), stopping at
  // the exact count; and the count settled from how the run ended.
  VcpuExit run_counted(uint64_t limit, const RunOptions& options);
  bool settle_count(int err);
  void write_reg(int reg, uint64_t value);

  // Unicorn callbacks (C function pointers); `self` is the vCPU.
  static void on_site(uc_struct* uc, uint64_t address, uint32_t size, void* self);
  static void on_unscanned_io(uc_struct* uc, uint32_t port, int size, uint32_t value, void* self);
  static uint32_t on_unscanned_in(uc_struct* uc, uint32_t port, int size, void* self);
  static void on_interrupt(uc_struct* uc, uint32_t vector, void* self);
  static bool on_unmapped(uc_struct* uc, int type, uint64_t address, int size, int64_t value,
                          void* self);
  static void on_write(uc_struct* uc, int type, uint64_t address, int size, int64_t value,
                       void* self);
  static bool on_invalid_instruction(uc_struct* uc, void* self);
  static void on_block(uc_struct* uc, uint64_t address, uint32_t size, void* self);
  static void on_target(uc_struct* uc, uint64_t address, uint32_t size, void* self);
  static void on_breakpoint(uc_struct* uc, uint64_t address, uint32_t size, void* self);
  // Whether a breakpoint stops the run before the instruction at `address` (and stops it).
  bool stop_at_breakpoint(uc_struct* uc, uint64_t address);
  static void on_watched_access(uc_struct* uc, int type, uint64_t address, int size, int64_t value,
                                void* self);
  static void on_instruction_after_access(uc_struct* uc, uint64_t address, uint32_t size,
                                          void* self);
  VcpuExit debug_point_exit();
  // In on_block(): stops before the first special instruction of `block` the code scan missed,
  // unless the count target comes first. True if it stopped.
  bool stop_at_unscanned(const BlockCounter::Block& block);

  GuestMemory& memory_;
  uc_struct* uc_ = nullptr;
  std::vector<InstructionSite> sites_;
  std::unordered_map<uint64_t, const InstructionSite*> site_at_;

  // What the hooks saw during the current run().
  const InstructionSite* pending_site_ = nullptr;
  bool unscanned_io_ = false;
  // An exit or nondet instruction the code scan did not see (code written at run time), stopped
  // before: its address and mnemonic.
  uint64_t unscanned_at_ = 0;
  const char* unscanned_name_ = nullptr;
  int pending_vector_ = -1;
  int unmapped_type_ = 0;
  uint64_t unmapped_address_ = 0;
  uint8_t pending_in_size_ = 0;
  const InstructionSite* pending_nondet_ = nullptr;  // the kNondet exit to complete
  bool syscall_performed_ = false;                   // perform_syscall() moved RIP to LSTAR

  // Debug points (set_debug_points()) and what their hooks saw during the current run().
  std::vector<DebugPoint> debug_points_;
  std::vector<size_t> debug_hooks_;      // uc_hook handles
  uint64_t skip_breakpoint_at_ = ~0ull;  // the run started here: execute it once
  // Where RIP went after an instruction the vCPU performed itself (an I/O or hlt exit, a
  // non-deterministic result) or a register write moved it: a run starting there has not
  // stopped at it yet, so it does not step over a breakpoint there.
  uint64_t performed_to_ = ~0ull;
  bool stepping_ = false;
  const DebugPoint* hit_ = nullptr;

  // Instruction counting (run_counted()): where the current run must stop, and why it did.
  enum class BlockStop : uint8_t {
    kNone,
    kTarget,
    kFinishInBlock,
    kRequested,
    kTargetHook,
    kUnscanned,  // before the block's first instruction, an unscanned special (unscanned_at_)
  };
  BlockCounter counter_;
  uint64_t target_ = 0;  // stop before instruction number target_ (kNoTarget: never)
  uint64_t finish_address_ = 0;
  uint64_t block_address_ = 0;  // the block the last block hook entered
  bool finishing_ = false;
  BlockStop block_stop_ = BlockStop::kNone;
  CodeLog code_log_;         // fed by on_block()
  uint64_t dirty_hook_ = 0;  // the write hook that tracks dirty pages, while tracking is on
  uint64_t exact_rip_write_hook_ = 0;  // the never-matching write hook, while tracking is off
  // Tracking before the hook (vmm/lazy_write_tracking.h), while this vCPU is the log's collector.
  std::unique_ptr<LazyWriteTracking> lazy_;
  bool tracking_ = false;
  bool owns_collector_ = false;
  base::Status start_write_hook();
  base::Status stop_write_hook();
  base::Status add_exact_rip_write_hook();
  // A UC_HOOK_MEM_WRITE calling on_write() for [begin, end], stored in `hook`; `purpose` names
  // it in the error ("cannot <purpose>").
  base::Status add_write_hook(uint64_t begin, uint64_t end, uint64_t& hook, const char* purpose);
  // x87/SSE state as last set, reported by registers() when the FPU is static.
  bool fpu_static_ = false;
  bool fpu_known_ = false;
  RegisterFile fpu_;
  // The fop last set and the fip it was set with (Unicorn does not keep FOP).
  uint64_t fop_fip_ = 0;
  uint16_t fop_set_ = 0;
};

}  // namespace hlrr::vmm
