// VcpuExit: why a vCPU stopped running guest code. Backends translate their own exit reasons
// (Unicorn hooks and errors, KVM_EXIT_*) into this one vocabulary, so everything above the
// backend (the exit loop, the recorder, replay) sees the same events from both.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/stop_request.h"

namespace hlrr::vmm {

enum class ExitKind : uint8_t {
  kIoOut,             // `out` executed: port, size, data. RIP is after the instruction.
  kIoIn,              // `in` executed: port, size. Complete it with Vcpu::set_io_in_result().
  kHalt,              // `hlt` executed. RIP is after the instruction.
  kException,         // a CPU exception: vector, error_code, address (CR2 for #PF). RIP at fault.
  kOutOfBounds,       // an access to guest-physical memory that does not exist: address.
  kStopped,           // Vcpu::request_stop() took effect between instructions: stop_cause says why.
  kDebug,             // a single step completed or a hardware breakpoint was hit.
  kInstructionLimit,  // RunOptions::max_instructions were executed.
  kShutdown,          // triple fault.
  kUnsupported,       // an instruction this backend cannot execute (detail names it).
  kInternalError,     // the backend failed (detail says how); the vCPU is unusable.
  // A non-deterministic instruction (`nondet`) is about to execute; RIP is at it. Only the
  // software vCPU stops for these: the host supplies the result with Vcpu::set_nondet_result(),
  // which also advances RIP past the instruction (KVM runs them natively and never reports it).
  kNondet,
};

// The non-deterministic instructions a vCPU may stop for (values match trace::NondetKind).
enum class NondetInstruction : uint8_t { kRdtsc, kRdtscp, kRdrand, kRdseed };

const char* to_string(NondetInstruction kind);

const char* to_string(ExitKind kind);

// x86 exception vectors that hlrr names.
enum Vector : uint8_t {
  kDivideError = 0,
  kDebugException = 1,
  kBreakpoint = 3,
  kInvalidOpcode = 6,
  kDoubleFault = 8,
  kStackSegmentFault = 12,
  kGeneralProtection = 13,
  kPageFault = 14,
};

// What a breakpoint or watchpoint watches (Vcpu::set_debug_points()).
enum class DebugPointKind : uint8_t {
  kBreakpoint,   // execution of the instruction at `address`
  kWriteWatch,   // a store into [address, address + length)
  kReadWatch,    // a load from it
  kAccessWatch,  // either
};

struct VcpuExit {
  ExitKind kind = ExitKind::kInternalError;
  // kIoOut / kIoIn
  uint16_t port = 0;
  uint8_t size = 0;   // 1, 2 or 4 bytes
  uint32_t data = 0;  // the value written by `out`
  // kException
  uint8_t vector = 0;
  uint32_t error_code = 0;
  // kException (#PF: the faulting linear address), kOutOfBounds, kDebug (breakpoint address)
  bool has_address = false;
  uint64_t address = 0;
  // kNondet: which instruction (its operand size, 2/4/8 bytes for rdrand/rdseed, is in `size`).
  NondetInstruction nondet = NondetInstruction::kRdtsc;
  // kUnsupported / kInternalError: one line saying what happened.
  std::string detail;
  // kDebug: set when a debug point stopped the run (not a single step). `address` is then the
  // breakpoint's address or the watchpoint's first watched byte.
  bool has_debug_point = false;
  DebugPointKind debug_point = DebugPointKind::kBreakpoint;
  // kStopped: the cause the stop was requested with.
  StopCause stop_cause = StopCause::kNone;
};

}  // namespace hlrr::vmm
