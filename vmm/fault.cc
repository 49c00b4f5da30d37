#include "vmm/fault.h"

#include <cstdio>

#include "base/printable.h"

namespace hlrr::vmm {

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::kPageFault:
      return "#PF";
    case FaultKind::kGeneralProtection:
      return "#GP";
    case FaultKind::kInvalidOpcode:
      return "#UD";
    case FaultKind::kDivideError:
      return "#DE";
    case FaultKind::kOtherException:
      return "exception";
    case FaultKind::kTripleFault:
      return "triple fault";
    case FaultKind::kOutOfBounds:
      return "out-of-bounds access";
    case FaultKind::kPanic:
      return "panic";
    case FaultKind::kTimeout:
      return "timeout";
    case FaultKind::kBadHostCall:
      return "bad host call";
    case FaultKind::kGuestError:
      return "guest error";
    case FaultKind::kBadIo:
      return "bad port I/O";
    case FaultKind::kUnsupportedInstruction:
      return "unsupported instruction";
    case FaultKind::kInternal:
      return "internal error";
  }
  return "?";
}

std::string Fault::to_string() const {
  char buf[96];
  std::string out = vmm::to_string(kind);
  if (kind == FaultKind::kOtherException) out += " " + std::to_string(vector);
  if (kind != FaultKind::kGuestError) {
    std::snprintf(buf, sizeof buf, " at 0x%llx", static_cast<unsigned long long>(rip));
    out += buf;
    // The symbol (from the ELF) and the message (a panic's text, a guest's refusal) come from
    // the guest: shown escaped, they cannot forge terminal output.
    if (!symbol.empty()) out += " in " + base::printable(symbol);
  }
  if (has_address) {
    std::snprintf(buf, sizeof buf, " (address 0x%llx)", static_cast<unsigned long long>(address));
    out += buf;
  }
  if (!message.empty()) out += ": " + base::printable(message);
  return out;
}

}  // namespace hlrr::vmm
