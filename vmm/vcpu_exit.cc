#include "vmm/vcpu_exit.h"

namespace hlrr::vmm {

const char* to_string(ExitKind kind) {
  switch (kind) {
    case ExitKind::kIoOut:
      return "io-out";
    case ExitKind::kIoIn:
      return "io-in";
    case ExitKind::kHalt:
      return "halt";
    case ExitKind::kException:
      return "exception";
    case ExitKind::kOutOfBounds:
      return "out-of-bounds";
    case ExitKind::kStopped:
      return "stopped";
    case ExitKind::kDebug:
      return "debug";
    case ExitKind::kInstructionLimit:
      return "instruction-limit";
    case ExitKind::kShutdown:
      return "shutdown";
    case ExitKind::kUnsupported:
      return "unsupported";
    case ExitKind::kInternalError:
      return "internal-error";
    case ExitKind::kNondet:
      return "nondet";
  }
  return "?";
}

const char* to_string(NondetInstruction kind) {
  switch (kind) {
    case NondetInstruction::kRdtsc:
      return "rdtsc";
    case NondetInstruction::kRdtscp:
      return "rdtscp";
    case NondetInstruction::kRdrand:
      return "rdrand";
    case NondetInstruction::kRdseed:
      return "rdseed";
  }
  return "?";
}

}  // namespace hlrr::vmm
