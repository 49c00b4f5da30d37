// PageSet: a checkpoint's copy of guest memory, page by page, as a persistent two-level array.
//
// Checkpoints share the pages they did not write. A flat table of one shared pointer per page
// made every checkpoint of a 64 MiB guest copy 16,384 pointers (two atomic updates each) and
// allocate 256 KiB, which was a third of a first forward pass under the debugger. Here pages are
// grouped in blocks of kBlockPages: a new set copies one pointer per block and rebuilds only
// the blocks holding a written page, and two sets compare block by block.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "replay/page_pool.h"

namespace hlrr::replay {

class PageSet {
 public:
  using Page = PagePool::Page;
  static constexpr size_t kBlockPages = 64;

  static_assert(sizeof(PageBytes) == PageBytes::kSize);

  PageSet() = default;
  // `pages` pages, each `fill`.
  PageSet(size_t pages, const Page& fill);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Page& operator[](size_t page) const {
    return (*blocks_[page / kBlockPages])[page % kBlockPages];
  }

  // This set with each page of `sorted` (ascending, unique, < size()) replaced by make(page).
  // Returns the bytes of the blocks it had to rebuild.
  size_t replace(std::span<const uint64_t> sorted, const std::function<Page(uint64_t)>& make);

  // Calls visit(page) for every page whose copy differs from `other`'s (same size; a shared
  // block is skipped whole).
  void for_each_difference(const PageSet& other, const std::function<void(uint64_t)>& visit) const;
  size_t count_differences(const PageSet& other) const;

  // The bytes of the table itself (the block pointers), not of the blocks or pages.
  size_t table_bytes() const { return blocks_.size() * sizeof(BlockRef); }
  static constexpr size_t block_bytes() { return sizeof(Block); }

 private:
  using Block = std::array<Page, kBlockPages>;
  using BlockRef = std::shared_ptr<const Block>;
  std::vector<BlockRef> blocks_;
  size_t size_ = 0;
};

}  // namespace hlrr::replay
