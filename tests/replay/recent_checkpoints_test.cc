// RecentCheckpoints: bounded in number and bytes, each counted beside its neighbour before it.
#include "replay/recent_checkpoints.h"

#include <gtest/gtest.h>

namespace hlrr::replay {
namespace {

ReplaySession::Checkpoint at(uint64_t count) {
  ReplaySession::Checkpoint c;
  c.count = count;
  return c;
}

// A checkpoint shares all but 10 bytes with a neighbour before it; alone, it holds 100.
uint64_t cost(const ReplaySession::Checkpoint&, const ReplaySession::Checkpoint* before) {
  return before ? 10 : 100;
}

TEST(RecentCheckpoints, EachIsCountedBesideItsNeighbourAndRecountedWhenThatChanges) {
  RecentCheckpoints recent({.count = 10, .bytes = 120});
  recent.add(at(10), cost);
  recent.add(at(20), cost);
  recent.add(at(30), cost);
  EXPECT_EQ(recent.size(), 3u);  // near each other they cost 100 + 10 + 10, within 120
  EXPECT_EQ(recent.bytes(), 120u);
  // One before them all: it holds 100 and the one at 10 now 10; past the limit, the oldest added
  // (10) goes, and the one at 20 is counted beside the new one.
  recent.add(at(5), cost);
  EXPECT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent.bytes(), 120u);
  EXPECT_EQ(recent.at_or_before(19)->count, 5u);
  EXPECT_EQ(recent.at_or_before(20)->count, 20u);
  // The count limit drops the oldest added, and the next one is recounted alone: 100.
  RecentCheckpoints two({.count = 2, .bytes = 1000});
  two.add(at(10), cost);
  two.add(at(20), cost);
  two.add(at(30), cost);
  EXPECT_EQ(two.size(), 2u);
  EXPECT_EQ(two.bytes(), 110u);
  EXPECT_EQ(two.at_or_before(15), nullptr);
}

TEST(RecentCheckpoints, RecountingAllAppliesTheLimitsToWhatEachNowHolds) {
  RecentCheckpoints recent({.count = 10, .bytes = 150});
  recent.add(at(10), cost);
  recent.add(at(20), cost);
  recent.add(at(30), cost);
  EXPECT_EQ(recent.bytes(), 120u);
  // The caller's kept checkpoints were thinned: each now holds 50 of its own, 150 in all, which
  // fits. Then 100 each: the oldest added go (10, then 20) until what is left fits.
  recent.recount_all([](const ReplaySession::Checkpoint&, const ReplaySession::Checkpoint*) {
    return uint64_t{50};
  });
  EXPECT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent.bytes(), 150u);
  recent.recount_all([](const ReplaySession::Checkpoint&, const ReplaySession::Checkpoint*) {
    return uint64_t{100};
  });
  EXPECT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent.bytes(), 100u);
  EXPECT_EQ(recent.at_or_before(29), nullptr);
  EXPECT_EQ(recent.at_or_before(30)->count, 30u);
}

}  // namespace
}  // namespace hlrr::replay
