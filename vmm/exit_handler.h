// ExitHandler: decides what one vCPU exit means for the guest call in progress: serve a host
// call and continue, finish with the guest's result, or fail with a Fault. It never runs the
// vCPU itself, so unit tests drive it with made-up exits and no guest (Firecracker's way).
// All host writes into guest memory during a call happen here.
#pragma once

#include "vmm/fault.h"
#include "vmm/guest_memory.h"
#include "vmm/host_functions.h"
#include "vmm/value.h"
#include "vmm/vcpu_exit.h"

namespace hlrr::vmm {

struct ExitAction {
  enum class Kind : uint8_t { kContinue, kReturn, kFault };
  Kind kind = Kind::kContinue;
  Value value;  // kReturn
  Fault fault;  // kFault; rip and symbol are filled in by the caller, who has the registers

  static ExitAction resume() { return {}; }
  static ExitAction finish(Value v) { return {Kind::kReturn, std::move(v), {}}; }
  static ExitAction fail(Fault f) { return {Kind::kFault, {}, std::move(f)}; }
};

class ExitHandler {
 public:
  ExitHandler(GuestMemory& memory, const HostFunctionTable& host_functions)
      : memory_(memory), host_functions_(host_functions) {}

  // `stop_is_timeout`: whether a kStopped exit means the call's deadline passed.
  ExitAction handle(const VcpuExit& exit, bool stop_is_timeout = true);

 private:
  ExitAction host_call();
  ExitAction panic();
  ExitAction halted();

  GuestMemory& memory_;
  const HostFunctionTable& host_functions_;
};

// The fault a CPU exception vector stands for.
Fault fault_for_exception(const VcpuExit& exit);

}  // namespace hlrr::vmm
