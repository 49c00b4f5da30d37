// LazyWriteTracking: the software vCPU's dirty-page tracking, paid for only once it is asked.
//
// Unicorn reports guest stores to the dirty-page log through a write hook on every store (~5%
// of store-heavy code such as zlib's deflate). A consumer that opens a cursor and never takes
// from it after the guest ran (hlreplay --check: the replay session tracks pages for
// checkpoints that a plain check never takes) need not pay that. So tracking starts with a copy
// of guest memory and no hook; the first time the log collects (DirtyPageLog's collector: every
// take, and an open while other cursors are open) after the guest ran, the pages that differ
// from the copy are marked, the copy is dropped and the write hook takes over, exact from then on.
//
// The one difference from the hook: a store in that first stretch that wrote the bytes the page
// already held is not reported. Every consumer (restores, checkpoints, deltas, the flight
// recorder) copies or compares contents, for which such a page is unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/expected.h"
#include "vmm/guest_memory.h"
#include "vmm/memory_shadow.h"

namespace hlrr::vmm {

class LazyWriteTracking {
 public:
  // Copies `memory` now (MemoryShadow). `start_hook` installs the exact tracking that takes over.
  LazyWriteTracking(GuestMemory& memory, std::function<base::Status()> start_hook);

  // The guest is about to run: memory may change from now on.
  void guest_runs() { ran_ = true; }
  // The log's collector: at the first call, unless the guest ran, nothing (host writes mark the
  // log themselves); otherwise marks the changed pages and starts the hook, once.
  base::Status collect();
  // Whether the hook has taken over (the copy is gone).
  bool hooked() const { return !shadow_; }

 private:
  GuestMemory& memory_;
  std::function<base::Status()> start_hook_;
  std::optional<MemoryShadow> shadow_;  // memory as tracking found it, until the hook
  bool ran_ = false;
  bool collected_ = false;
};

}  // namespace hlrr::vmm
