#include "recorder/page_tracker.h"

#include <cstring>

namespace hlrr::recorder {

PageTracker::PageTracker(vmm::Sandbox& sandbox) : sandbox_(sandbox) {
  if (sandbox.vcpu().backend_name() == "kvm") {
    std::vector<uint64_t> discard;
    sandbox.take_dirty_pages(discard);  // starts the log; what came before is in Setup
    return;
  }
  const uint8_t* base = sandbox.memory().host_base();
  shadow_.assign(base, base + sandbox.memory().size());
}

void PageTracker::take_changed_pages(std::vector<uint64_t>& pages) {
  if (shadow_.empty()) {
    sandbox_.take_dirty_pages(pages);
    return;
  }
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
}

}  // namespace hlrr::recorder
