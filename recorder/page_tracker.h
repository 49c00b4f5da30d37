// PageTracker: which pages of guest memory changed since the previous look, for the recorder's
// memory deltas. Two strategies, the cheapest for each backend:
//  - KVM: the sandbox's dirty log (Sandbox::take_dirty_pages(): KVM_GET_DIRTY_LOG, exact, a few
//    µs; docs/vcpu-facts.md);
//  - software vCPU: comparing each page with a shadow copy taken at the previous look. Unicorn's
//    dirty tracking is a write hook that costs ~20% of every store-heavy run (docs/vcpu-facts.md),
//    while a compare costs ~0.3 ms per 4 MiB per delta, i.e. nothing per exit.
// Either way, host writes and restored snapshots count too. Used on the sandbox's thread.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/sandbox.h"

namespace hlrr::recorder {

class PageTracker {
 public:
  // Starts tracking from the sandbox's current memory (nothing is "changed" yet).
  explicit PageTracker(vmm::Sandbox& sandbox);

  // Appends the page numbers changed since construction or the previous call, and forgets them.
  void take_changed_pages(std::vector<uint64_t>& pages);

  bool uses_dirty_log() const { return shadow_.empty(); }

 private:
  vmm::Sandbox& sandbox_;
  std::vector<uint8_t> shadow_;  // the software vCPU's strategy; empty on KVM
};

}  // namespace hlrr::recorder
