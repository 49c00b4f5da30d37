#include "recorder/page_tracker.h"

namespace hlrr::recorder {

PageTracker::PageTracker(vmm::Sandbox& sandbox) {
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
  shadow_ = std::make_unique<vmm::MemoryShadow>(sandbox.memory());
}

base::Status PageTracker::take_changed_pages(std::vector<uint64_t>& pages) {
  if (!shadow_) return cursor_.is_open() ? cursor_.take(pages) : status_;
  shadow_->compare(pages, /*update=*/true);
  return {};
}

}  // namespace hlrr::recorder
