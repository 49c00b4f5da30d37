#include "vmm/vcpu_factory.h"

#include "vmm/backend_choice.h"
#include "vmm/hybrid_vcpu.h"
#include "vmm/kvm_vcpu.h"
#include "vmm/unicorn_vcpu.h"

namespace hlrr::vmm {
namespace {

// The KVM backend answers `cpuid` from the canonical model by itself when KVM accepts the
// table; on one that refuses it (kvm_pvm), through hardware breakpoints at the guest's cpuid
// instructions, of which there are at most four.
constexpr size_t kMaxEmulatedCpuid = 4;

base::Expected<std::unique_ptr<Vcpu>> create_kvm(GuestMemory& memory, const ElfImage& image) {
  auto kvm = KvmVcpu::create(memory, image.instruction_sites());
  if (!kvm) return base::Unexpected(std::move(kvm).error());
  if (!(*kvm)->cpuid_matches_model()) {
    std::vector<uint64_t> cpuid;
    for (const auto& site : image.instruction_sites()) {
      if (site.kind == SiteKind::kCpuid) cpuid.push_back(site.address);
    }
    if (cpuid.size() > kMaxEmulatedCpuid) {
      return base::fail("this KVM cannot install the CPU model and the guest executes cpuid at " +
                        std::to_string(cpuid.size()) +
                        " places (at most 4 can be answered): use --vcpu unicorn");
    }
    if (!cpuid.empty()) {
      if (auto st = (*kvm)->emulate_cpuid_at(std::move(cpuid)); !st)
        return base::Unexpected(std::move(st).error());
    }
  }
  return with_software_fallback(std::move(*kvm), memory, image.instruction_sites());
}

}  // namespace

std::unique_ptr<Vcpu> with_software_fallback(std::unique_ptr<Vcpu> hardware, GuestMemory& memory,
                                             std::vector<InstructionSite> sites) {
  auto make_software = [&memory,
                        sites = std::move(sites)]() -> base::Expected<std::unique_ptr<Vcpu>> {
    auto vcpu = UnicornVcpu::create(memory, sites);
    if (!vcpu) return base::Unexpected(std::move(vcpu).error());
    return std::unique_ptr<Vcpu>(std::move(*vcpu));
  };
  return std::make_unique<HybridVcpu>(std::move(hardware), std::move(make_software), memory.size());
}

const char* to_string(VcpuKind kind) {
  switch (kind) {
    case VcpuKind::kAuto:
      return "auto";
    case VcpuKind::kKvm:
      return "kvm";
    case VcpuKind::kUnicorn:
      return "unicorn";
  }
  return "?";
}

base::Expected<VcpuKind> parse_vcpu_kind(std::string_view text) {
  if (text == "auto") return VcpuKind::kAuto;
  if (text == "kvm") return VcpuKind::kKvm;
  if (text == "unicorn") return VcpuKind::kUnicorn;
  return base::fail("unknown vCPU backend '" + std::string(text) + "' (auto, kvm or unicorn)");
}

base::Expected<std::unique_ptr<Vcpu>> create_vcpu(VcpuKind kind, GuestMemory& memory,
                                                  const ElfImage& image) {
  // The software vCPU needs no probe of KVM (backend_choice.h).
  if (kind != VcpuKind::kUnicorn) {
    auto choice = choose_backend(kind, probe_kvm(), image.needs_sse());
    if (!choice) return base::Unexpected(std::move(choice).error());
    kind = choice->kind;
  }
  base::Expected<std::unique_ptr<Vcpu>> vcpu = base::fail("");
  if (kind == VcpuKind::kKvm) {
    vcpu = create_kvm(memory, image);
  } else if (auto soft = UnicornVcpu::create(memory, image.instruction_sites())) {
    vcpu = std::unique_ptr<Vcpu>(std::move(*soft));
  } else {
    return base::Unexpected(std::move(soft).error());
  }
  if (vcpu) (*vcpu)->set_fpu_static(!image.uses_fpu());
  return vcpu;
}

}  // namespace hlrr::vmm
