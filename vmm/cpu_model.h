// CpuModel: the one CPUID table both vCPU backends answer from.
//
// The table is the software vCPU's model (Unicorn 2.0's qemu64: vendor AuthenticAMD, max basic
// leaf 0xd), read by executing `cpuid` for every leaf and subleaf on a scratch Unicorn engine.
// KvmVcpu installs exactly these entries with KVM_SET_CPUID2, so a guest's `cpuid` answers the
// same on both backends (docs/kvm.md lists the bits a KVM still forces).
#pragma once

#include <cstdint>
#include <vector>

#include "base/expected.h"

namespace hlrr::vmm {

struct CpuidEntry {
  uint32_t function = 0;
  uint32_t index = 0;  // the subleaf (ECX); 0 for leaves that ignore ECX
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  bool operator==(const CpuidEntry&) const = default;
};

// True for the leaves whose answer depends on ECX (the subleaf).
bool cpuid_leaf_has_subleaves(uint32_t function);

// The canonical table, computed once (thread-safe) and cached. Fails only if Unicorn cannot
// create an engine.
base::Expected<std::vector<CpuidEntry>> canonical_cpuid();

}  // namespace hlrr::vmm
