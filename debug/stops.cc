#include "debug/stops.h"

#include <string>

#include "vmm/vcpu_exit.h"

namespace hlrr::debug {

uint8_t signal_for(const vmm::Fault& fault) {
  using vmm::FaultKind;
  switch (fault.kind) {
    case FaultKind::kPageFault:
    case FaultKind::kGeneralProtection:
    case FaultKind::kOutOfBounds:
    case FaultKind::kTripleFault:
      return rsp::kSigSegv;
    case FaultKind::kInvalidOpcode:
    case FaultKind::kUnsupportedInstruction:
      return rsp::kSigIll;
    case FaultKind::kDivideError:
      return rsp::kSigFpe;
    case FaultKind::kOtherException:
      return fault.vector == vmm::kStackSegmentFault ? rsp::kSigSegv : rsp::kSigTrap;
    case FaultKind::kTimeout:
      return kSigAlrm;
    default:
      return kSigAbrt;  // panic, bad host call or port, refused call, VMM error
  }
}

rsp::StopInfo divergence_stop(std::string_view reason) {
  rsp::StopInfo stop = rsp::StopInfo::stopped(kSigAbrt);
  stop.message = "replay diverged: " + std::string(reason) + "\n";
  return stop;
}

}  // namespace hlrr::debug
