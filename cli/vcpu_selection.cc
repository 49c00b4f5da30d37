#include "cli/vcpu_selection.h"

namespace hlrr::cli {

namespace {
constexpr int kExitUsage = 2;  // as hlrun's: the guest cannot be run as asked
}  // namespace

VcpuSelection select_vcpu(const std::string& tool, vmm::VcpuKind requested, bool guest_needs_sse,
                          const vmm::KvmCapability& kvm) {
  auto choice = vmm::choose_backend(requested, kvm, guest_needs_sse);
  if (!choice) return {kExitUsage, requested, tool + ": " + choice.error().message};
  return {0, choice->kind, tool + ": vcpu: " + choice->reason};
}

}  // namespace hlrr::cli
