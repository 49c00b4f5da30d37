// Creating a vCPU backend: `auto` takes KVM where /dev/kvm is usable and can execute what the
// guest needs, the software vCPU elsewhere; an explicit `kvm` that cannot run the guest fails
// with one line (the decision: backend_choice.h).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "vmm/elf_image.h"
#include "vmm/guest_memory.h"
#include "vmm/vcpu.h"

namespace hlrr::vmm {

enum class VcpuKind : uint8_t { kAuto, kKvm, kUnicorn };

const char* to_string(VcpuKind kind);
// "auto", "kvm", "unicorn".
base::Expected<VcpuKind> parse_vcpu_kind(std::string_view text);

// A vCPU over `memory` (which already holds the guest and the long-mode tables) for `image`.
base::Expected<std::unique_ptr<Vcpu>> create_vcpu(VcpuKind kind, GuestMemory& memory,
                                                  const ElfImage& image);

// `hardware` (KVM) composed with a software vCPU over `memory` (for a guest with these code
// scan `sites`) that runs the guest while the hardware cannot honour the debug points set.
std::unique_ptr<Vcpu> with_software_fallback(std::unique_ptr<Vcpu> hardware, GuestMemory& memory,
                                             std::vector<InstructionSite> sites);

// What a Sandbox runs its exit loop over: create_vcpu() bound to a kind in production, a
// scripted fake vCPU in the exit loop's unit tests.
using VcpuFactory =
    std::function<base::Expected<std::unique_ptr<Vcpu>>(GuestMemory&, const ElfImage&)>;

}  // namespace hlrr::vmm
