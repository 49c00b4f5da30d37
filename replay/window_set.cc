#include "replay/window_set.h"

#include <algorithm>

namespace hlrr::replay {

void WindowSet::add(uint64_t first, uint64_t last) {
  // The common case: at or after the last range.
  if (ranges_.empty() || first > ranges_.back().last + 1) {
    ranges_.push_back({first, last});
  } else if (first >= ranges_.back().first) {
    ranges_.back().last = std::max(ranges_.back().last, last);
  } else {
    // The ranges that touch [first, last] become one.
    auto begin = std::lower_bound(ranges_.begin(), ranges_.end(), first,
                                  [](const Range& r, uint64_t v) { return r.last + 1 < v; });
    auto end = std::upper_bound(begin, ranges_.end(), last,
                                [](uint64_t v, const Range& r) { return v + 1 < r.first; });
    if (begin == end) {
      ranges_.insert(begin, {first, last});
    } else {
      const Range merged{std::min(first, begin->first), std::max(last, std::prev(end)->last)};
      *begin = merged;
      ranges_.erase(std::next(begin), end);
    }
  }
  if (ranges_.size() > 2 * max_ranges_) merge_closest();
}

bool WindowSet::contains(uint64_t index) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), index,
                             [](uint64_t v, const Range& r) { return v < r.first; });
  return it != ranges_.begin() && std::prev(it)->last >= index;
}

void WindowSet::add_overlap(uint64_t first, uint64_t last, WindowSet& out) const {
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), first,
                             [](const Range& r, uint64_t v) { return r.last < v; });
  for (; it != ranges_.end() && it->first <= last; ++it) {
    out.add(std::max(first, it->first), std::min(last, it->last));
  }
}

void WindowSet::add_gaps(uint64_t first, uint64_t last, WindowSet& out) const {
  uint64_t from = first;
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), first,
                             [](const Range& r, uint64_t v) { return r.last < v; });
  for (; it != ranges_.end() && it->first <= last && from <= last; ++it) {
    if (it->first > from) out.add(from, it->first - 1);
    from = it->last + 1;
  }
  if (from <= last && from >= first) out.add(from, last);
}

// Down to max_ranges_ at once, by merging across the smallest gaps, so that a set at its limit
// that keeps growing pays O(1) per addition, not a search for the closest pair each time.
void WindowSet::merge_closest() {
  std::vector<uint64_t> gaps(ranges_.size() - 1);
  for (size_t i = 0; i + 1 < ranges_.size(); ++i) gaps[i] = ranges_[i + 1].first - ranges_[i].last;
  const size_t merges = ranges_.size() - max_ranges_;
  std::nth_element(gaps.begin(), gaps.begin() + static_cast<std::ptrdiff_t>(merges - 1),
                   gaps.end());
  const uint64_t widest = gaps[merges - 1];  // gaps up to this wide are closed (ties: a few more)
  size_t kept = 0;
  for (size_t i = 1; i < ranges_.size(); ++i) {
    if (ranges_[i].first - ranges_[kept].last <= widest) {
      ranges_[kept].last = ranges_[i].last;
    } else {
      ranges_[++kept] = ranges_[i];
    }
  }
  ranges_.resize(kept + 1);
}

}  // namespace hlrr::replay
