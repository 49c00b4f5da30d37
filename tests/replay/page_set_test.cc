// PageSet: a checkpoint's page copies, shared block by block between checkpoints.
#include "replay/page_set.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace hlrr::replay {
namespace {

PageSet::Page page_of(uint8_t byte) {
  return PagePool::instance().filled(byte);
}

TEST(PageSet, AReplacementChangesOnlyItsPagesAndLeavesTheOriginalAlone) {
  const PageSet::Page zero = page_of(0);
  // 200 pages: three full blocks and a partial fourth.
  const PageSet original(200, zero);
  PageSet changed = original;
  const std::vector<uint64_t> written = {3, 64, 65, 199};
  const size_t rebuilt =
      changed.replace(written, [](uint64_t page) { return page_of(static_cast<uint8_t>(page)); });
  EXPECT_EQ(rebuilt, 3 * PageSet::block_bytes());  // blocks 0, 1 and 3
  ASSERT_EQ(changed.size(), 200u);
  EXPECT_EQ((*changed[64])[0], 64);
  EXPECT_EQ((*changed[199])[4095], 199);
  EXPECT_EQ(changed[4], zero);
  EXPECT_EQ(original[64], zero);
  EXPECT_EQ(original[199], zero);

  std::vector<uint64_t> seen;
  changed.for_each_difference(original, [&](uint64_t page) { seen.push_back(page); });
  EXPECT_EQ(seen, written);
  EXPECT_EQ(original.count_differences(changed), 4u);
  EXPECT_EQ(changed.count_differences(changed), 0u);
}

TEST(PageSet, CopiesShareTheirPagesUntilOneIsReplaced) {
  PageSet a(130, page_of(1));
  const std::vector<uint64_t> one = {129};
  a.replace(one, [](uint64_t) { return page_of(2); });
  PageSet b = a;
  EXPECT_EQ(a[129], b[129]);
  b.replace(one, [](uint64_t) { return page_of(3); });
  EXPECT_EQ((*a[129])[0], 2);
  EXPECT_EQ((*b[129])[0], 3);
  EXPECT_EQ(a.count_differences(b), 1u);
  EXPECT_EQ(a.table_bytes(), 3 * sizeof(std::shared_ptr<const int>));
}

}  // namespace
}  // namespace hlrr::replay

namespace hlrr::replay {
namespace {

TEST(PagePool, AFreedPageIsReusedForTheNextCopy) {
  PagePool& pool = PagePool::instance();
  std::vector<uint8_t> source(4096);
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<uint8_t>(i * 7);
  PagePool::Page first = pool.copy(source.data());
  EXPECT_EQ(std::memcmp(first->data(), source.data(), 4096), 0);
  const PageBytes* address = first.get();
  const size_t carved = pool.carved();
  first.reset();
  PagePool::Page second = pool.filled(0xAB);
  EXPECT_EQ(second.get(), address);  // the buffer came back, no new one carved
  EXPECT_EQ(pool.carved(), carved);
  EXPECT_EQ((*second)[4095], 0xAB);
}

}  // namespace
}  // namespace hlrr::replay
