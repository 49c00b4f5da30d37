#include "replay/page_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

#include "base/check.h"

namespace hlrr::replay {

PagePool& PagePool::instance() {
  static PagePool* pool = new PagePool;  // leaked on purpose: pages are freed until exit
  return *pool;
}

PageBytes* PagePool::take() {
  std::lock_guard lock(mutex_);
  if (!free_.empty()) {
    PageBytes* page = free_.back();
    free_.pop_back();
    return page;
  }
  if (slab_next_ == slab_end_) {
    void* slab =
        ::mmap(nullptr, kSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slab == MAP_FAILED) throw std::bad_alloc();
    // A hint only: without huge pages the slab faults in page by page, as malloc's memory did.
    ::madvise(slab, kSlabBytes, MADV_HUGEPAGE);
    slab_next_ = static_cast<PageBytes*>(slab);
    slab_end_ = slab_next_ + kSlabBytes / sizeof(PageBytes);
  }
  ++carved_;
  return slab_next_++;
}

void PagePool::give_back(PageBytes* page) {
  std::lock_guard lock(mutex_);
  free_.push_back(page);
}

PagePool::Page PagePool::copy(const uint8_t* source) {
  PageBytes* page = take();
  std::memcpy(page->bytes, source, PageBytes::kSize);
  return Page(page, [this](const PageBytes* p) { give_back(const_cast<PageBytes*>(p)); });
}

PagePool::Page PagePool::filled(uint8_t byte) {
  PageBytes* page = take();
  std::memset(page->bytes, byte, PageBytes::kSize);
  return Page(page, [this](const PageBytes* p) { give_back(const_cast<PageBytes*>(p)); });
}

size_t PagePool::carved() const {
  std::lock_guard lock(mutex_);
  return carved_;
}

size_t PagePool::free_count() const {
  std::lock_guard lock(mutex_);
  return free_.size();
}

}  // namespace hlrr::replay
