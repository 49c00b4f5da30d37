#include "vmm/guest_memory.h"

#include <gtest/gtest.h>

#include <array>

namespace hlrr::vmm {
namespace {

TEST(GuestMemory, RejectsSizesThatAreNotWholePages) {
  EXPECT_FALSE(GuestMemory::create(0).has_value());
  EXPECT_FALSE(GuestMemory::create(4097).has_value());
  auto m = GuestMemory::create(0x10000);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->size(), 0x10000u);
  EXPECT_EQ(m->page_count(), 16u);
}

TEST(GuestMemory, ReadsBackWhatWasWritten) {
  auto m = GuestMemory::create(0x10000);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->write_value<uint64_t>(0xFFF8, 0x1122334455667788).has_value());
  auto v = m->read_value<uint64_t>(0xFFF8);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 0x1122334455667788u);
  auto s = m->read_string(0xFFF8, 2);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(*s, std::string("\x88\x77", 2));
}

TEST(GuestMemory, RefusesEveryRangeOutsideItWithAMessage) {
  auto m = GuestMemory::create(0x10000);
  ASSERT_TRUE(m.has_value());
  std::array<uint8_t, 8> buf{};
  EXPECT_FALSE(m->read(0xFFF9, buf).has_value());           // straddles the end
  EXPECT_FALSE(m->read(0x10000, buf).has_value());          // just past the end
  EXPECT_FALSE(m->write(~0ull - 3, buf).has_value());       // would wrap around
  EXPECT_FALSE(m->read_string(0x8000, ~0ull).has_value());  // huge length
  auto err = m->read(0x20000, buf);
  ASSERT_FALSE(err.has_value());
  EXPECT_EQ(err.error().message, "guest range 0x20000+0x8 is outside guest memory (0x10000 bytes)");
  EXPECT_TRUE(m->read(0x10000, std::span<uint8_t>()).has_value());  // empty range at the end
}

TEST(GuestMemory, TracksPagesTheHostWrote) {
  auto m = GuestMemory::create(0x10000);
  ASSERT_TRUE(m.has_value());
  auto cursor = m->dirty_log().open();
  std::array<uint8_t, 2> two{1, 2};
  ASSERT_TRUE(m->write(0x1FFF, two).has_value());  // pages 1 and 2
  ASSERT_TRUE(m->write_value<uint8_t>(0x5000, 7).has_value());
  std::vector<uint64_t> pages;
  ASSERT_TRUE(cursor.take(pages));
  EXPECT_EQ(pages, (std::vector<uint64_t>{1, 2, 5}));
  pages.clear();
  ASSERT_TRUE(cursor.take(pages));
  EXPECT_TRUE(pages.empty());
}

// Pages never touched need not be read to be known as zeros: the kernel has not backed them.
TEST(GuestMemory, KnowsWhichPagesWereNeverTouched) {
  auto m = GuestMemory::create(0x40000);  // 64 pages
  ASSERT_TRUE(m.has_value());
  std::array<uint8_t, 2> two{1, 2};
  ASSERT_TRUE(m->write(0x1FFF, two).has_value());  // pages 1 and 2
  m->host_base()[0x2A000] = 9;                     // page 42, as a vCPU writes
  const std::vector<bool> backed = m->backed_pages();
  ASSERT_EQ(backed.size(), 64u);
  std::vector<uint64_t> pages;
  for (uint64_t page = 0; page < backed.size(); ++page) {
    if (backed[page]) pages.push_back(page);
  }
  EXPECT_EQ(pages, (std::vector<uint64_t>{1, 2, 42}));
}
}  // namespace
}  // namespace hlrr::vmm
