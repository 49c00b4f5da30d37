#include "vmm/lazy_write_tracking.h"

#include <cstring>

namespace hlrr::vmm {

LazyWriteTracking::LazyWriteTracking(GuestMemory& memory, std::function<base::Status()> start_hook)
    : memory_(memory), start_hook_(std::move(start_hook)), shadow_(std::in_place, memory) {}

base::Status LazyWriteTracking::collect() {
  if (!shadow_) return {};
  // Before the guest ran memory is the copy (host writes mark the log themselves), so waiting
  // is safe; but only the first collection waits (the opening of the first cursor): a consumer
  // that takes before the guest runs gets exact tracking from the start.
  if (!ran_ && !collected_) {
    collected_ = true;
    return {};
  }
  // The hook first: should it fail, the copy is still there for the next collection.
  if (auto st = start_hook_(); !st) return st;
  std::vector<uint64_t> changed;
  shadow_->compare(changed, /*update=*/false);
  for (uint64_t page : changed) memory_.dirty_log().mark(page);
  shadow_.reset();
  return {};
}

}  // namespace hlrr::vmm
