#include "vmm/lazy_write_tracking.h"

#include <cstring>

namespace hlrr::vmm {

namespace {
constexpr uint64_t kPage = GuestMemory::kPageSize;
const uint8_t kZeroPage[kPage] = {};
}  // namespace

LazyWriteTracking::LazyWriteTracking(GuestMemory& memory, std::function<base::Status()> start_hook)
    : memory_(memory), start_hook_(std::move(start_hook)) {
  // Only the pages that are not all zero: most of a large guest memory was never touched (and
  // is not read: backed_pages()).
  slots_.assign(memory.page_count(), kZero);
  const uint8_t* base = memory.host_base();
  const std::vector<bool> backed = memory.backed_pages();
  for (uint64_t page = 0; page < memory.page_count(); ++page) {
    if (!backed[page]) continue;
    const uint8_t* bytes = base + page * kPage;
    if (std::memcmp(bytes, kZeroPage, kPage) == 0) continue;
    slots_[page] = copy_.size() / kPage;
    copy_.insert(copy_.end(), bytes, bytes + kPage);
  }
}

base::Status LazyWriteTracking::collect() {
  if (hooked_) return {};
  // Before the guest ran memory is the copy (host writes mark the log themselves), so waiting
  // is safe; but only the first collection waits (the opening of the first cursor): a consumer
  // that takes before the guest runs gets exact tracking from the start.
  if (!ran_ && !collected_) {
    collected_ = true;
    return {};
  }
  // The hook first: should it fail, the copy is still there for the next collection.
  if (auto st = start_hook_(); !st) return st;
  hooked_ = true;
  const uint8_t* now = memory_.host_base();
  const std::vector<bool> backed = memory_.backed_pages();
  for (uint64_t page = 0; page < memory_.page_count(); ++page) {
    if (!backed[page] && slots_[page] == kZero) continue;  // zeros then and now
    const uint8_t* then = slots_[page] == kZero ? kZeroPage : copy_.data() + slots_[page] * kPage;
    if (std::memcmp(now + page * kPage, then, kPage) != 0) memory_.dirty_log().mark(page);
  }
  std::vector<uint8_t>().swap(copy_);
  std::vector<uint64_t>().swap(slots_);
  return {};
}

}  // namespace hlrr::vmm
