#include "vmm/backend_choice.h"

#include <mutex>

#include "hl_abi.h"
#include "vmm/kvm_vcpu.h"
#include "vmm/long_mode.h"

namespace hlrr::vmm {
namespace {

constexpr const char* kSseMissing =
    "the guest needs x87/SSE (built with them, or its code uses them) and this KVM cannot "
    "execute SSE";

// Runs `addps %xmm1, %xmm0; hlt` in a scratch VM: a KVM that cannot execute SSE arithmetic
// ends it with an emulation failure (kUnsupported) instead of the `hlt`.
bool kvm_executes_sse() {
  auto memory = GuestMemory::create(HL_MIN_MEMORY);
  if (!memory) return false;
  static constexpr uint8_t kCode[] = {0x0F, 0x58, 0xC1, 0xF4};
  if (!write_page_tables(*memory) || !write_descriptor_tables(*memory) ||
      !memory->write(HL_IMAGE_BASE, std::span<const uint8_t>(kCode))) {
    return false;
  }
  auto vcpu = KvmVcpu::create(*memory, {});
  if (!vcpu || !(*vcpu)->set_registers(initial_registers(HL_IMAGE_BASE))) return false;
  return (*vcpu)->run(RunOptions{}).kind == ExitKind::kHalt;
}

}  // namespace

base::Expected<BackendChoice> choose_backend(VcpuKind requested, const KvmCapability& kvm,
                                             bool guest_needs_sse) {
  const bool sse_missing = guest_needs_sse && !kvm.executes_sse;
  switch (requested) {
    case VcpuKind::kUnicorn:
      return BackendChoice{VcpuKind::kUnicorn, "unicorn: asked for with --vcpu unicorn"};
    case VcpuKind::kKvm:
      if (!kvm.usable) {
        return base::fail("KVM is not usable here: " + kvm.usable.error().message +
                          " (use --vcpu unicorn)");
      }
      if (sse_missing) {
        return base::fail(std::string(kSseMissing) +
                          ": use --vcpu unicorn, or build the guest GENERAL_REGS_ONLY");
      }
      return BackendChoice{VcpuKind::kKvm, "kvm: asked for with --vcpu kvm"};
    case VcpuKind::kAuto:
      break;
  }
  if (!kvm.usable) {
    return BackendChoice{VcpuKind::kUnicorn,
                         "unicorn: KVM is not usable here: " + kvm.usable.error().message};
  }
  if (sse_missing) return BackendChoice{VcpuKind::kUnicorn, std::string("unicorn: ") + kSseMissing};
  return BackendChoice{VcpuKind::kKvm, guest_needs_sse
                                           ? "kvm: usable, and it executes the guest's SSE"
                                           : "kvm: usable, and the guest is general-regs-only"};
}

const KvmCapability& probe_kvm() {
  static std::once_flag once;
  static KvmCapability capability;
  std::call_once(once, [] {
    capability.usable = KvmVcpu::available();
    capability.executes_sse = capability.usable && kvm_executes_sse();
  });
  return capability;
}

}  // namespace hlrr::vmm
