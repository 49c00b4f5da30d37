#include "recorder/page_tracker.h"

#include <cstring>

namespace hlrr::recorder {

PageTracker::PageTracker(vmm::Sandbox& sandbox) : sandbox_(sandbox) {
  if (sandbox.vcpu().backend_name() == "kvm") {
    // What came before is in Setup: the cursor starts now.
    auto cursor = sandbox.track_dirty_pages();
    if (cursor) {
      cursor_ = std::move(*cursor);
    } else {
      status_ = base::Unexpected(std::move(cursor).error());
    }
    return;
  }
  const uint8_t* base = sandbox.memory().host_base();
  shadow_.assign(base, base + sandbox.memory().size());
}

base::Status PageTracker::take_changed_pages(std::vector<uint64_t>& pages) {
  if (shadow_.empty()) return cursor_.is_open() ? cursor_.take(pages) : status_;
  constexpr uint64_t kPage = vmm::GuestMemory::kPageSize;
  const uint8_t* base = sandbox_.memory().host_base();
  const uint64_t count = sandbox_.memory().page_count();
  for (uint64_t page = 0; page < count; ++page) {
    const uint8_t* now = base + page * kPage;
    uint8_t* before = shadow_.data() + page * kPage;
    if (std::memcmp(now, before, kPage) == 0) continue;
    std::memcpy(before, now, kPage);
    pages.push_back(page);
  }
  return {};
}

}  // namespace hlrr::recorder
