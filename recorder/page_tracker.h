// PageTracker: which pages of guest memory changed since the previous look, for the recorder's
// memory deltas. Two strategies, the cheapest for each backend:
//  - KVM: a cursor on the dirty-page log (Sandbox::track_dirty_pages(): KVM_GET_DIRTY_LOG, exact,
//    a few µs; docs/vcpu-facts.md);
//  - software vCPU: comparing each page with a shadow copy taken at the previous look. Unicorn's
//    dirty tracking is a write hook: ~20% more host instructions on store-heavy code, +5-9% of
//    CPU on a sort's replay (docs/vcpu-facts.md), while a compare costs ~0.3 ms per 4 MiB per
//    delta, i.e. nothing per exit.
// Either way, host writes and restored snapshots count too. Used on the sandbox's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "vmm/memory_shadow.h"
#include "vmm/sandbox.h"

namespace hlrr::recorder {

class PageTracker {
 public:
  // Starts tracking from the sandbox's current memory (nothing is "changed" yet).
  explicit PageTracker(vmm::Sandbox& sandbox);

  // Appends the page numbers changed since construction or the previous call, and forgets them.
  // Fails where the dirty log cannot be read (KVM's ioctl); nothing is forgotten then.
  base::Status take_changed_pages(std::vector<uint64_t>& pages);

  bool uses_dirty_log() const { return !shadow_; }

 private:
  std::unique_ptr<vmm::MemoryShadow> shadow_;  // the software vCPU's strategy; null on KVM
  vmm::DirtyPageLog::Cursor cursor_;           // KVM's; the log's pages since Setup
  base::Status status_;  // why the dirty log could not be started, if it could not
};

}  // namespace hlrr::recorder
