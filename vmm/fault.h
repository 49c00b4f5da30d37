// Fault: why a guest call did not return a value. One line for people (to_string()), and the
// fields for tools and tests: the kind, the RIP and the symbol it falls in, the address.
#pragma once

#include <cstdint>
#include <string>

namespace hlrr::vmm {

enum class FaultKind : uint8_t {
  kPageFault,               // #PF: null page, stack guard page, beyond the identity map
  kGeneralProtection,       // #GP: e.g. a non-canonical address
  kInvalidOpcode,           // #UD: ud2 or an instruction the CPU model lacks
  kDivideError,             // #DE
  kOtherException,          // any other vector (see Fault::vector)
  kTripleFault,             // the vCPU shut down
  kOutOfBounds,             // an access to guest-physical memory that does not exist
  kPanic,                   // hl_panic(): message in Fault::message
  kTimeout,                 // the call ran longer than its limit
  kBadHostCall,             // unknown host function, wrong arguments, wild pointer, host error
  kGuestError,              // the guest refused the call (unknown function, wrong arguments)
  kBadIo,                   // port I/O to a port the VMM does not serve
  kUnsupportedInstruction,  // the backend cannot execute an instruction
  kInternal,                // the VMM or backend failed
};

// "#PF", "panic", "timeout", ...
const char* to_string(FaultKind kind);

struct Fault {
  FaultKind kind = FaultKind::kInternal;
  uint8_t vector = 0;  // for exceptions
  // The guest's RIP when the call stopped: at the faulting instruction for a CPU exception or an
  // out-of-bounds access; just after the `out` for a host-call, panic or port-I/O fault.
  uint64_t rip = 0;
  std::string symbol;  // "func+0x12", or empty when unknown
  bool has_address = false;
  uint64_t address = 0;
  std::string message;  // details: panic text, host-call error, ...

  // "#PF at 0x100123 in null_deref+0x4 (address 0x0)", "panic at ... : message".
  std::string to_string() const;
};

}  // namespace hlrr::vmm
