// The one dirty-page log: every consumer takes, from its own cursor, the pages written since its
// previous take, each once, whatever the other consumers did in between.
#include "vmm/dirty_page_log.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace hlrr::vmm {
namespace {

using Pages = std::vector<uint64_t>;

Pages take(DirtyPageLog::Cursor& cursor) {
  Pages pages;
  EXPECT_TRUE(cursor.take(pages));
  std::sort(pages.begin(), pages.end());
  return pages;
}

TEST(DirtyPageLog, EachCursorTakesThePagesWrittenSinceItsOwnPreviousTake) {
  DirtyPageLog log(16);
  auto a = log.open();
  log.mark(1);
  log.mark(2);
  auto b = log.open();  // sees only what comes after it
  log.mark(2);
  log.mark(3);
  EXPECT_EQ(take(a), (Pages{1, 2, 3}));
  log.mark(2);
  EXPECT_EQ(take(b), (Pages{2, 3}));  // page 2 once, though written before and after a's take
  EXPECT_EQ(take(a), (Pages{2}));
  EXPECT_EQ(take(a), (Pages{}));
  EXPECT_EQ(take(b), (Pages{}));
}

TEST(DirtyPageLog, APageWrittenAgainAfterATakeIsReportedAgain) {
  DirtyPageLog log(16);
  auto a = log.open();
  log.mark(5);
  EXPECT_EQ(take(a), (Pages{5}));
  log.mark(5);
  log.mark(5);
  EXPECT_EQ(take(a), (Pages{5}));
  EXPECT_EQ(take(a), (Pages{}));
}

TEST(DirtyPageLog, SkipMovesOneCursorToNowAndLeavesTheOthers) {
  DirtyPageLog log(16);
  auto a = log.open();
  auto b = log.open();
  log.mark(7);
  ASSERT_TRUE(a.skip());
  log.mark(8);
  EXPECT_EQ(take(a), (Pages{8}));
  EXPECT_EQ(take(b), (Pages{7, 8}));
}

TEST(DirtyPageLog, RangesMarkEveryPageTheyTouchAndNothingOutsideMemory) {
  DirtyPageLog log(4);
  auto a = log.open();
  log.mark_range(0x1FFF, 2);       // pages 1 and 2
  log.mark_range(0x3FFF, 0x2000);  // page 3, then past the end
  log.mark_range(0x0, 0);          // nothing
  log.mark(99);
  EXPECT_EQ(take(a), (Pages{1, 2, 3}));
}

TEST(DirtyPageLog, WritesBeforeAnyCursorAreNobodys) {
  DirtyPageLog log(16);
  log.mark(4);
  auto a = log.open();
  EXPECT_EQ(take(a), (Pages{}));
  {
    auto b = log.open();
    log.mark(6);
  }  // b closed: a still sees 6
  EXPECT_EQ(take(a), (Pages{6}));
}

TEST(DirtyPageLog, ACollectorIsPulledBeforeEachTakeAndItsFailureIsTheTakes) {
  DirtyPageLog log(16);
  auto a = log.open();
  bool fail = true;
  log.set_collector([&]() -> base::Status {
    if (fail) return base::fail("KVM_GET_DIRTY_LOG: Bad address");
    log.mark(9);
    return {};
  });
  log.mark(3);
  Pages pages;
  auto st = a.take(pages);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "KVM_GET_DIRTY_LOG: Bad address");
  EXPECT_TRUE(pages.empty());
  fail = false;
  EXPECT_EQ(take(a), (Pages{3, 9}));  // nothing lost by the failed take
  log.set_collector(nullptr);
  EXPECT_EQ(take(a), (Pages{}));
}

TEST(DirtyPageLog, ManyTakesKeepTheLogSmall) {
  DirtyPageLog log(8);
  auto a = log.open();
  auto b = log.open();
  for (int round = 0; round < 1000; ++round) {
    log.mark(round % 8);
    ASSERT_EQ(take(a), (Pages{static_cast<uint64_t>(round % 8)}));
  }
  EXPECT_LE(log.entry_count(), 2u * 8 + 256 + 8);  // though b never took
  Pages all = take(b);                             // every page, once
  EXPECT_EQ(all, (Pages{0, 1, 2, 3, 4, 5, 6, 7}));
  log.mark(3);
  EXPECT_EQ(take(b), (Pages{3}));
  EXPECT_EQ(take(a), (Pages{3}));
}

}  // namespace
}  // namespace hlrr::vmm
