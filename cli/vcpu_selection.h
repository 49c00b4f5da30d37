// hlrun's --vcpu: the backend for a guest, the line -v prints about it, or the one-line error
// and exit status when the backend asked for cannot run the guest (vmm/backend_choice.h).
#pragma once

#include <string>

#include "vmm/backend_choice.h"

namespace hlrr::cli {

struct VcpuSelection {
  int exit_code = 0;  // 0, or the tool's usage status (2) when `kind` cannot run the guest
  vmm::VcpuKind kind = vmm::VcpuKind::kUnicorn;
  // "TOOL: vcpu: unicorn: KVM is not usable here: ..." (printed with -v), or the error line.
  std::string line;
};

// Decided before the guest runs, from the KVM capability given (vmm::probe_kvm() in the tool).
VcpuSelection select_vcpu(const std::string& tool, vmm::VcpuKind requested, bool guest_needs_sse,
                          const vmm::KvmCapability& kvm);

}  // namespace hlrr::cli
