// Vcpu: one virtual CPU running a guest in guest memory, whichever engine executes it.
//
// Implementations: UnicornVcpu (software, always available, exact instruction counts) and
// KvmVcpu (hardware). The exit loop (Sandbox), the debugger target and the replay engine use
// only this interface. A Vcpu is driven from one thread; only request_stop() may be called from
// any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "vmm/register_file.h"
#include "vmm/stop_request.h"
#include "vmm/vcpu_exit.h"

namespace hlrr::vmm {

struct RunOptions {
  // Stop with kInstructionLimit after this many instructions (0: no limit). Only backends that
  // count instructions honour it (see Vcpu::counts_instructions()).
  uint64_t max_instructions = 0;
  // Execute exactly one instruction, then exit with kDebug.
  bool single_step = false;
};

// A breakpoint or watchpoint set on a vCPU by a debugger.
struct DebugPoint {
  DebugPointKind kind = DebugPointKind::kBreakpoint;
  uint64_t address = 0;
  uint64_t length = 1;  // watchpoints: bytes watched, at least 1

  bool operator==(const DebugPoint&) const = default;
};

// Ok if every point lies in guest memory of `memory_size` bytes and every watchpoint covers at
// least one byte; else one line naming the first bad point. Debugger targets check this when a
// point is inserted, so that a set the vCPU accepts is never refused later.
base::Status check_debug_points(std::span<const DebugPoint> points, uint64_t memory_size);

class Vcpu {
 public:
  virtual ~Vcpu() = default;
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  // "unicorn" or "kvm".
  virtual std::string_view backend_name() const = 0;

  // Runs guest code from the current RIP until the next exit. Blocking.
  virtual VcpuExit run(const RunOptions& options = {}) = 0;

  virtual base::Expected<RegisterFile> registers() = 0;
  virtual base::Status set_registers(const RegisterFile& regs) = 0;

  // Completes the kIoIn exit just returned: the value lands in AL/AX/EAX as `in` defines.
  virtual void set_io_in_result(uint32_t value) = 0;

  // Completes the kNondet exit just returned: the instruction's result, as it would have
  // produced it (rdtsc: {tsc}; rdtscp: {tsc, tsc_aux}; rdrand/rdseed: {value, cf}), lands in its
  // registers and RIP moves past it. Only backends that report kNondet implement it.
  virtual void set_nondet_result(uint64_t /*value*/, uint64_t /*extra*/) {}

  // For a guest whose code never touches x87/MMX/SSE state (ElfImage::uses_fpu()): that state
  // then changes only through set_registers(), so a backend may report what was set instead of
  // reading it back (cheaper on Unicorn; on kvm_pvm, which loses it across some runs, correct).
  virtual void set_fpu_static(bool /*is_static*/) {}

  // Stop requests (vmm/stop_request.h). The driving thread begins a generation for each run it
  // wants stoppable as a whole (Sandbox: each call; a debugger: each resume). request_stop()
  // makes the run of `generation` in progress, or its next run(), return kStopped soon with
  // `cause` as stop_cause; one request suffices. A request for another generation (a stale
  // one, from an earlier run) is ignored and returns false. Thread-safe, never blocks.
  uint64_t begin_stop_generation() { return stop_.begin_generation(); }
  uint64_t stop_generation() const { return stop_.generation(); }
  bool request_stop(StopCause cause, uint64_t generation) {
    if (!stop_.request(cause, generation)) return false;
    kick();
    return true;
  }
  // For the current generation.
  bool request_stop(StopCause cause = StopCause::kInterrupt) {
    return request_stop(cause, stop_generation());
  }

  // Whether run() honours max_instructions and instruction_count() is exact.
  virtual bool counts_instructions() const { return false; }
  // Instructions retired since the vCPU was created (or since set_instruction_count()).
  virtual uint64_t instruction_count() const { return 0; }
  virtual void set_instruction_count(uint64_t /*count*/) {}

  // Dirty-page tracking: while on, the guest's writes are marked in its memory's dirty-page log
  // (GuestMemory::dirty_log(), where GuestMemory marks the host's). Fails where the backend
  // cannot track (KVM refusing the dirty-logging memory slot).
  virtual base::Status set_dirty_tracking(bool enabled) = 0;

  // The host changed code bytes in [gpa, gpa + len): drop any translation of them.
  virtual void code_modified(uint64_t gpa, uint64_t len) = 0;

  // Debugging: replaces the vCPU's breakpoints and watchpoints (any number; a watchpoint covers
  // any non-empty range, see check_debug_points()). Neither changes guest memory, so memory
  // reads never see them. From then on run() stops with kDebug (has_debug_point, address):
  //  * before executing an instruction at a breakpoint, RIP at it, also where the instruction
  //    is one the vCPU performs itself (port I/O, hlt, rdtsc & co.); a run that starts at a
  //    breakpoint executes that instruction first (resuming from it) unless the vCPU arrived
  //    there by completing an exit (it never stopped there), and a single step never stops at
  //    one;
  //  * after the instruction that accessed a watched byte (any access overlapping it, whatever
  //    its start and size), RIP at the next instruction.
  // Fails (and keeps the previous set) where the backend cannot honour the set.
  virtual base::Status set_debug_points(std::span<const DebugPoint> points) = 0;
  // Whether set_debug_points() can honour `points` (within guest memory). The hybrid vCPU runs
  // the guest on its software fallback while the hardware vCPU cannot.
  virtual bool supports_debug_points(std::span<const DebugPoint> /*points*/) const { return true; }

 protected:
  Vcpu() = default;
  // Makes a run in progress notice the pending stop soon (KVM: leave KVM_RUN); a backend that
  // polls stop_ while it runs needs nothing. Any thread; must not block.
  virtual void kick() {}
  // run() takes the pending cause where it stops for it (StopRequest::take()).
  StopRequest stop_;
};

}  // namespace hlrr::vmm
