// WindowSet and ActivityMap: the sets of windows a reverse continue consults (activity_map.h).
#include "replay/activity_map.h"

#include <gtest/gtest.h>

#include <vector>

namespace hlrr::replay {
namespace {

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

Ranges ranges(const WindowSet& set) {
  Ranges out;
  for (const auto& r : set.ranges()) out.emplace_back(r.first, r.last);
  return out;
}

TEST(WindowSet, AddsInAnyOrderIntoDisjointRanges) {
  WindowSet set;
  for (uint64_t i : {1, 2, 3, 7, 8, 20}) set.add(i);
  EXPECT_EQ(ranges(set), (Ranges{{1, 3}, {7, 8}, {20, 20}}));
  set.add(5);  // between two ranges, touching neither
  EXPECT_EQ(ranges(set), (Ranges{{1, 3}, {5, 5}, {7, 8}, {20, 20}}));
  set.add(4, 6);  // joins the first three
  EXPECT_EQ(ranges(set), (Ranges{{1, 8}, {20, 20}}));
  set.add(0);
  set.add(2);  // already there
  EXPECT_EQ(ranges(set), (Ranges{{0, 8}, {20, 20}}));
  EXPECT_TRUE(set.contains(0));
  EXPECT_TRUE(set.contains(8));
  EXPECT_FALSE(set.contains(9));
  EXPECT_TRUE(set.contains(20));
  EXPECT_FALSE(set.contains(21));
}

TEST(WindowSet, OverlapsAndGapsWithinABound) {
  WindowSet set;
  set.add(2, 4);
  set.add(8, 9);
  WindowSet overlap;
  set.add_overlap(3, 8, overlap);
  EXPECT_EQ(ranges(overlap), (Ranges{{3, 4}, {8, 8}}));
  WindowSet gaps;
  set.add_gaps(0, 12, gaps);
  EXPECT_EQ(ranges(gaps), (Ranges{{0, 1}, {5, 7}, {10, 12}}));
  WindowSet none;
  set.add_gaps(2, 4, none);
  EXPECT_TRUE(none.empty());
}

// Past twice its limit a set merges across its smallest gaps, down to the limit: it then holds
// more than was added, never less.
TEST(WindowSet, PastItsLimitMergesTheClosestRanges) {
  WindowSet set(2);
  for (uint64_t i : {0, 10, 12, 30}) set.add(i);
  EXPECT_EQ(ranges(set), (Ranges{{0, 0}, {10, 10}, {12, 12}, {30, 30}}));
  set.add(33);  // five ranges, gaps 10, 2, 18, 3: the three smallest are closed
  EXPECT_EQ(ranges(set), (Ranges{{0, 12}, {30, 33}}));
  set.add(100);
  EXPECT_EQ(ranges(set), (Ranges{{0, 12}, {30, 33}, {100, 100}}));
  for (uint64_t i : {0, 10, 12, 30, 33, 100}) EXPECT_TRUE(set.contains(i)) << i;
}

TEST(ActivityMap, TellsWhereAPointMayHit) {
  ActivityMap map(1000);
  const uint64_t line = 0x101520 >> 6;
  map.add(0, 0, std::vector<uint64_t>{line, line + 1}, std::vector<uint64_t>{0x10b});
  map.add(1, 1, std::vector<uint64_t>{line + 1}, std::vector<uint64_t>{0x200, 0x201});
  map.add(3, 3, std::vector<uint64_t>{line}, std::vector<uint64_t>{});
  map.mark_known(0, 1);
  map.mark_known(3, 3);
  EXPECT_TRUE(map.known(0));
  EXPECT_FALSE(map.known(2));
  EXPECT_EQ(map.known_windows(), 3u);
  const auto where = [&](const vmm::DebugPoint& p) {
    WindowSet out;
    map.add_candidates(p, 0, 4, out);
    return ranges(out);
  };
  // The windows that ran its line, and the unknown ones (2 and 4).
  EXPECT_EQ(where({vmm::DebugPointKind::kBreakpoint, 0x101520, 1}), (Ranges{{0, 0}, {2, 4}}));
  // Eight bytes across the pages 0x200 and 0x201 (only window 1 wrote them).
  EXPECT_EQ(where({vmm::DebugPointKind::kWriteWatch, 0x200ffc, 8}), (Ranges{{1, 2}, {4, 4}}));
  EXPECT_EQ(where({vmm::DebugPointKind::kWriteWatch, 0x10b100, 4}),
            (Ranges{{0, 0}, {2, 2}, {4, 4}}));
  // A read leaves no trace: everywhere.
  EXPECT_EQ(where({vmm::DebugPointKind::kReadWatch, 0x10b100, 4}), (Ranges{{0, 4}}));
  // A run over several windows is filed under those not known yet: 2 (and 4, 5), not 1 or 3.
  map.add(1, 5, std::vector<uint64_t>{}, std::vector<uint64_t>{0x300});
  map.mark_known(2, 2);
  EXPECT_EQ(where({vmm::DebugPointKind::kWriteWatch, 0x300000, 4}), (Ranges{{2, 2}, {4, 4}}));
  EXPECT_EQ(where({vmm::DebugPointKind::kWriteWatch, 0x200000, 4}), (Ranges{{1, 1}, {4, 4}}));
}

}  // namespace
}  // namespace hlrr::replay
