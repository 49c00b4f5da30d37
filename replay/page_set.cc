#include "replay/page_set.h"

#include "base/check.h"

namespace hlrr::replay {

PageSet::PageSet(size_t pages, const Page& fill) : size_(pages) {
  auto block = std::make_shared<Block>();
  block->fill(fill);
  blocks_.assign((pages + kBlockPages - 1) / kBlockPages, std::move(block));
}

size_t PageSet::replace(std::span<const uint64_t> sorted,
                        const std::function<Page(uint64_t)>& make) {
  size_t rebuilt = 0;
  for (size_t i = 0; i < sorted.size();) {
    const size_t block_index = sorted[i] / kBlockPages;
    HLRR_CHECK(sorted[i] < size_);
    auto block = std::make_shared<Block>(*blocks_[block_index]);
    for (; i < sorted.size() && sorted[i] / kBlockPages == block_index; ++i) {
      (*block)[sorted[i] % kBlockPages] = make(sorted[i]);
    }
    blocks_[block_index] = std::move(block);
    rebuilt += sizeof(Block);
  }
  return rebuilt;
}

void PageSet::for_each_difference(const PageSet& other,
                                  const std::function<void(uint64_t)>& visit) const {
  HLRR_CHECK(other.size_ == size_);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    if (blocks_[b] == other.blocks_[b]) continue;
    const Block& mine = *blocks_[b];
    const Block& theirs = *other.blocks_[b];
    for (size_t i = 0; i < kBlockPages && b * kBlockPages + i < size_; ++i) {
      if (mine[i] != theirs[i]) visit(b * kBlockPages + i);
    }
  }
}

size_t PageSet::count_differences(const PageSet& other) const {
  size_t n = 0;
  for_each_difference(other, [&](uint64_t) { ++n; });
  return n;
}

}  // namespace hlrr::replay
