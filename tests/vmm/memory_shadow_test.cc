// MemoryShadow: the pages that changed since the copy, found by comparing, without reading the
// pages the guest never touched.
#include "vmm/memory_shadow.h"

#include <gtest/gtest.h>

namespace hlrr::vmm {
namespace {

TEST(MemoryShadow, FindsTheChangedPagesAndFollowsThemWhenUpdating) {
  auto m = GuestMemory::create(64 * GuestMemory::kPageSize);
  ASSERT_TRUE(m.has_value());
  uint8_t* base = m->host_base();
  base[3 * 0x1000 + 5] = 1;
  base[7 * 0x1000] = 2;
  MemoryShadow shadow(*m);
  base[3 * 0x1000 + 5] = 9;   // changed
  base[7 * 0x1000] = 2;       // written, unchanged
  base[10 * 0x1000 + 1] = 4;  // was zeros
  std::vector<uint64_t> pages;
  shadow.compare(pages, /*update=*/false);
  EXPECT_EQ(pages, (std::vector<uint64_t>{3, 10}));
  pages.clear();
  shadow.compare(pages, /*update=*/true);  // the same: nothing was updated
  EXPECT_EQ(pages, (std::vector<uint64_t>{3, 10}));
  pages.clear();
  shadow.compare(pages, /*update=*/true);
  EXPECT_TRUE(pages.empty());
  base[10 * 0x1000 + 1] = 0;  // back to zeros
  shadow.compare(pages, /*update=*/true);
  EXPECT_EQ(pages, (std::vector<uint64_t>{10}));
}

TEST(MemoryShadow, NeverReadsThePagesTheGuestNeverTouched) {
  auto m = GuestMemory::create(64 * GuestMemory::kPageSize);
  ASSERT_TRUE(m.has_value());
  m->host_base()[5 * 0x1000] = 1;
  MemoryShadow shadow(*m);
  std::vector<uint64_t> pages;
  shadow.compare(pages, /*update=*/true);
  EXPECT_TRUE(pages.empty());
  // Reading a page faults it in: only page 5 is backed still.
  const std::vector<bool> backed = m->backed_pages();
  std::vector<uint64_t> touched;
  for (uint64_t page = 0; page < backed.size(); ++page) {
    if (backed[page]) touched.push_back(page);
  }
  EXPECT_EQ(touched, (std::vector<uint64_t>{5}));
}

}  // namespace
}  // namespace hlrr::vmm
