// Which vCPU backend runs a guest: a pure decision over what the KVM here can execute and what
// the guest needs (ElfImage::needs_sse()), so that every case is unit-tested on machines with
// no /dev/kvm; and the once-per-process probe that finds out what the KVM here can execute.
#pragma once

#include <string>

#include "base/expected.h"
#include "vmm/vcpu_factory.h"

namespace hlrr::vmm {

struct KvmCapability {
  // Ok if /dev/kvm is usable; else one line saying why (KvmVcpu::available()).
  base::Status usable;
  // Whether a guest's SSE arithmetic runs there (false on the workplace's kvm_pvm, whose
  // emulation fails on `addps`; shared/VCPU-FACTS.md). Meaningless when not usable.
  bool executes_sse = false;
};

struct BackendChoice {
  VcpuKind kind = VcpuKind::kUnicorn;  // kKvm or kUnicorn, never kAuto
  std::string reason;                  // one line: why this one (for -v)
};

// `auto`: KVM when it is usable and can execute what the guest needs, else the software vCPU.
// `kvm`: KVM, or a one-line error (not usable; the guest needs SSE this KVM cannot execute).
// `unicorn`: the software vCPU, which executes everything a guest may contain.
base::Expected<BackendChoice> choose_backend(VcpuKind requested, const KvmCapability& kvm,
                                             bool guest_needs_sse);

// What the KVM here can do, probed on the first call of the process (~1 ms where /dev/kvm is
// usable: a scratch VM runs `addps; hlt`) and cached.
const KvmCapability& probe_kvm();

}  // namespace hlrr::vmm
