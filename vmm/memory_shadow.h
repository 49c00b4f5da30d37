// MemoryShadow: a copy of guest memory, to find the pages that changed by comparing.
//
// For the software vCPU, whose exact tracking is a write hook on every store (docs/vcpu-facts.md),
// where comparing at a few points costs next to nothing per instruction: the recorder's memory
// deltas (recorder::PageTracker) and the first stretch of LazyWriteTracking. Sparse: pages of zeros
// are not copied, and pages the kernel never backed are not even read (GuestMemory::backed_pages():
// reading 64 MiB of untouched memory to copy it cost ~0.3 s per recording on a nested VM).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "vmm/guest_memory.h"

namespace hlrr::vmm {

class MemoryShadow {
 public:
  // Copies `memory` now.
  explicit MemoryShadow(const GuestMemory& memory);

  // Appends the pages whose contents differ from the copy to `pages`, ascending; with `update`,
  // the copy takes their new contents.
  void compare(std::vector<uint64_t>& pages, bool update);

 private:
  using Page = std::unique_ptr<uint8_t[]>;
  const GuestMemory& memory_;
  std::vector<Page> pages_;  // per guest page: its copy, or null for a page of zeros
};

}  // namespace hlrr::vmm
