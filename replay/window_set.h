// WindowSet: a set of window indexes (replay's activity windows, activity_map.h), kept as sorted,
// disjoint ranges. Indexes come mostly in ascending order (a replay going forward), which is
// O(1); others are inserted in place.
//
// With a range limit, past twice the limit the ranges closest to each other are merged down to
// it: the set then holds more than was added. That is the over-approximation "may hold a
// hit" needs, and it bounds the memory of a page written in many scattered windows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hlrr::replay {

class WindowSet {
 public:
  struct Range {
    uint64_t first = 0;
    uint64_t last = 0;  // inclusive
  };

  explicit WindowSet(size_t max_ranges = SIZE_MAX / 2) : max_ranges_(max_ranges) {}

  void add(uint64_t index) { add(index, index); }
  void add(uint64_t first, uint64_t last);
  bool contains(uint64_t index) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<Range>& ranges() const { return ranges_; }
  // Adds this set's part of [first, last] to `out`.
  void add_overlap(uint64_t first, uint64_t last, WindowSet& out) const;
  // Adds to `out` what of [first, last] this set does not hold.
  void add_gaps(uint64_t first, uint64_t last, WindowSet& out) const;
  size_t bytes() const { return ranges_.capacity() * sizeof(Range); }

 private:
  void merge_closest();

  std::vector<Range> ranges_;
  size_t max_ranges_;
};

}  // namespace hlrr::replay
