// PagePool: the 4 KiB buffers that checkpoints copy guest pages into, recycled.
//
// A first forward pass under the debugger copies hundreds of thousands of pages into
// checkpoints and drops most of them again as thinning doubles the interval. Taking each copy
// from malloc cost a page fault per fresh page (expensive in a nested VM) and returned memory to
// the system on every trim. The pool carves buffers out of 2 MiB slabs (transparent huge pages
// where the kernel allows: one fault per slab) and keeps freed buffers for the next copy, so
// memory is touched once, up to the peak that the checkpoint cap already bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace hlrr::replay {

// One copied guest page.
struct PageBytes {
  static constexpr size_t kSize = 4096;
  alignas(64) uint8_t bytes[kSize];
  const uint8_t* data() const { return bytes; }
  uint8_t operator[](size_t i) const { return bytes[i]; }
};

class PagePool {
 public:
  using Page = std::shared_ptr<const PageBytes>;

  // The process's pool (never destroyed: a page may outlive any object that held it).
  static PagePool& instance();

  // A page holding the kSize bytes at `source`.
  Page copy(const uint8_t* source);
  // A page of `byte`s.
  Page filled(uint8_t byte);

  // Buffers carved so far and buffers free for reuse (for tests and benchmarks).
  size_t carved() const;
  size_t free_count() const;

 private:
  PagePool() = default;
  PageBytes* take();
  void give_back(PageBytes* page);

  static constexpr size_t kSlabBytes = 2u << 20;
  mutable std::mutex mutex_;
  std::vector<PageBytes*> free_;
  PageBytes* slab_next_ = nullptr;
  PageBytes* slab_end_ = nullptr;
  size_t carved_ = 0;
};

}  // namespace hlrr::replay
