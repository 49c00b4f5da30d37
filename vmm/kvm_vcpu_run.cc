#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/check.h"
#include "hl_abi.h"
#include "vmm/kvm_internal.h"
#include "vmm/kvm_vcpu.h"

// KvmVcpu's runs: KVM_RUN, stop requests (the kick signal), exits translated into VcpuExits.
namespace hlrr::vmm {

using namespace kvm;

namespace {

// The signal kick() sends to kick the vCPU thread out of KVM_RUN. Its handler does
// nothing: the point is that KVM_RUN returns EINTR.
int kick_signal() {
  return SIGRTMIN + 3;
}

void unblock_kick_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kick_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace

void kvm::install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // KVM_RUN still returns EINTR; other syscalls restart
    sigaction(kick_signal(), &action, nullptr);
  });
}

int KvmVcpu::enter() {
  if (sync_regs_) {
    run_->kvm_dirty_regs =
        (regs_dirty_ ? KVM_SYNC_X86_REGS : 0) | (sregs_dirty_ ? KVM_SYNC_X86_SREGS : 0);
    regs_dirty_ = sregs_dirty_ = false;
  } else if (auto st = flush_state(); !st) {
    return EIO;
  }
  if (!fpu_static_) fpu_valid_ = false;
  const int r = ioctl(vcpu_fd_, KVM_RUN, 0);
  const int err = r < 0 ? errno : 0;
  if (!load_state()) return EIO;
  return err;
}

base::Status KvmVcpu::complete_pending() {
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  const int err = enter();
  if (err == EINTR) return {};
  // Single-stepping: completing the instruction is the step, reported as a debug exit.
  if (err == 0 && run_->exit_reason == KVM_EXIT_DEBUG) return {};
  return base::fail(err ? errno_text("KVM_RUN (completing I/O)", err)
                        : "KVM_RUN (completing I/O): unexpected exit " +
                              std::to_string(run_->exit_reason));
}

// KVM's rule: a vCPU's ioctls come from one thread (KVM_RUN from another one moves the vCPU's
// task, at a cost, and a kick would signal the wrong thread). The first run binds the vCPU to its
// thread and unblocks the kick signal there, once; a run from any other thread is a caller's bug
// (a debugged target has one thread for its whole life: rsp/target_thread.h). Before `running_`
// is set, so that kick() sees `thread_` set.
void KvmVcpu::bind_to_thread() {
  const pthread_t self = pthread_self();
  if (!thread_bound_) {
    thread_ = self;
    thread_bound_ = true;
    unblock_kick_signal();
    return;
  }
  HLRR_CHECK(pthread_equal(self, thread_) && "a KVM vCPU runs on the thread of its first run");
}

VcpuExit KvmVcpu::run(const RunOptions& options) {
  if (options.max_instructions && !options.single_step) {
    // Ignoring the limit could run a guest forever where the caller expects a bound.
    return VcpuExit{.kind = ExitKind::kUnsupported,
                    .detail =
                        "an instruction limit needs an instruction-counting vCPU; KVM "
                        "counts none (run with --vcpu unicorn)"};
  }
  // Arriving at RIP by completing an exit (I/O, hlt) is not a stop there: a breakpoint at RIP
  // then fires (the exit loop runs on without a debugger seeing the exit).
  const bool arrived_by_exit = regs().rip == performed_to_;
  performed_to_ = ~0ull;
  if (!options.single_step && !arrived_by_exit && at_breakpoint(regs().rip)) {
    // Resuming from a breakpoint: execute its instruction first (a DR breakpoint re-fires
    // until RIP moves past it).
    VcpuExit step = run(RunOptions{.single_step = true});
    if (step.kind != ExitKind::kDebug || step.has_debug_point) return step;
  }
  if (options.single_step || single_step_) {
    if (auto st = set_guest_debug(options.single_step); !st) {
      return VcpuExit{.kind = ExitKind::kInternalError, .detail = st.error().message};
    }
  }
  bind_to_thread();
  const uint64_t start_rip = regs().rip;
  // Order matters for kick(): clear immediate_exit, announce running, then check the
  // request. A request that misses the flag finds running_ set and immediate_exit re-armed.
  for (;;) {
    __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
    running_.store(true);
    if (const StopCause cause = stop_.take(); cause != StopCause::kNone) {
      running_.store(false);
      return VcpuExit{.kind = ExitKind::kStopped, .stop_cause = cause};
    }
    const int err = enter();
    running_.store(false);
    const bool interrupted = err == EINTR || (err == 0 && run_->exit_reason == KVM_EXIT_INTR);
    if (!interrupted && err == 0 && run_->exit_reason == KVM_EXIT_DEBUG && at_cpuid_breakpoint()) {
      emulate_cpuid();
      if (options.single_step) return VcpuExit{.kind = ExitKind::kDebug};
      continue;
    }
    if (!interrupted) {
      const VcpuExit exit = translate_exit(err, options, start_rip);
      if (exit.kind == ExitKind::kIoOut || exit.kind == ExitKind::kIoIn ||
          exit.kind == ExitKind::kHalt) {
        performed_to_ = regs().rip;
      }
      return exit;
    }
    if (const StopCause cause = stop_.take(); cause != StopCause::kNone) {
      return VcpuExit{.kind = ExitKind::kStopped, .stop_cause = cause};
    }
    // Some other signal interrupted KVM_RUN: carry on.
  }
}

VcpuExit KvmVcpu::translate_exit(int err, const RunOptions& options, uint64_t start_rip) {
  if (err) {
    return VcpuExit{.kind = ExitKind::kInternalError, .detail = errno_text("KVM_RUN", err)};
  }
  switch (run_->exit_reason) {
    case KVM_EXIT_IO:
      return io_exit();
    case KVM_EXIT_HLT:
      return VcpuExit{.kind = ExitKind::kHalt};
    case KVM_EXIT_MMIO:
      return mmio_exit();
    case KVM_EXIT_SHUTDOWN:
      return VcpuExit{.kind = ExitKind::kShutdown};
    case KVM_EXIT_DEBUG:
      return debug_exit(options, start_rip);
    case KVM_EXIT_INTERNAL_ERROR:
      if (run_->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) return emulation_failure();
      return VcpuExit{.kind = ExitKind::kInternalError,
                      .detail = "KVM internal error, suberror " +
                                std::to_string(run_->internal.suberror) + " at rip " +
                                hex(regs().rip)};
    case KVM_EXIT_FAIL_ENTRY:
      return VcpuExit{.kind = ExitKind::kInternalError,
                      .detail = "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason " +
                                hex(run_->fail_entry.hardware_entry_failure_reason)};
    default:
      return VcpuExit{.kind = ExitKind::kInternalError,
                      .detail = "unexpected KVM exit reason " + std::to_string(run_->exit_reason) +
                                " at rip " + hex(regs().rip)};
  }
}

VcpuExit KvmVcpu::debug_exit(const RunOptions& options, uint64_t start_rip) {
  // While single-stepping, KVM reports a stepped `hlt` as a debug exit (docs/kvm.md); the
  // software vCPU reports the halt, with RIP after it.
  uint8_t opcode = 0;
  if (options.single_step && memory_.contains(start_rip, 1) &&
      memory_.read(start_rip, std::span(&opcode, 1)) && opcode == kHltOpcode) {
    if (regs().rip != start_rip + 1) {
      regs().rip = start_rip + 1;
      mark_regs_dirty();
    }
    return VcpuExit{.kind = ExitKind::kHalt};
  }
  if (options.single_step && regs().rip >= HL_EXCEPTION_STUBS_BASE && regs().rip < kStubsEnd) {
    // The stepped instruction faulted and KVM stopped at the first instruction of the
    // exception stub: run the stub to its exit, which reports the fault as the software vCPU
    // does. A stop requested meanwhile stays pending for the next run().
    if (auto st = set_guest_debug(false); !st) {
      return VcpuExit{.kind = ExitKind::kInternalError, .detail = st.error().message};
    }
    int err;
    do {
      __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
      err = enter();
    } while (err == EINTR || (err == 0 && run_->exit_reason == KVM_EXIT_INTR));
    return translate_exit(err, RunOptions{}, regs().rip);
  }
  if (options.single_step) return VcpuExit{.kind = ExitKind::kDebug};
  return VcpuExit{.kind = ExitKind::kDebug,
                  .has_address = true,
                  .address = run_->debug.arch.pc,
                  .has_debug_point = at_breakpoint(run_->debug.arch.pc),
                  .debug_point = DebugPointKind::kBreakpoint};
}

void KvmVcpu::kick() {
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (running_.load()) pthread_kill(thread_, kick_signal());
}

void KvmVcpu::set_io_in_result(uint32_t value) {
  auto& rax = regs().rax;
  switch (pending_in_size_) {
    case 1:
      rax = (rax & ~0xFFull) | (value & 0xFF);
      break;
    case 2:
      rax = (rax & ~0xFFFFull) | (value & 0xFFFF);
      break;
    default:
      rax = value;
      break;  // a 32-bit write zero-extends into RAX
  }
  mark_regs_dirty();
}

}  // namespace hlrr::vmm
