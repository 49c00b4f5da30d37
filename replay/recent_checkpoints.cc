#include "replay/recent_checkpoints.h"

#include <algorithm>

namespace hlrr::replay {

void RecentCheckpoints::add(ReplaySession::Checkpoint checkpoint, const Cost& cost) {
  const uint64_t count = checkpoint.count;
  if (contains(count)) drop(count, cost);
  auto it = by_count_.emplace(count, Entry{std::move(checkpoint), 0}).first;
  order_.push_back(count);
  recount(it, cost);
  recount(std::next(it), cost);
  enforce_limits(cost);
}

void RecentCheckpoints::recount_all(const Cost& cost) {
  for (auto it = by_count_.begin(); it != by_count_.end(); ++it) recount(it, cost);
  enforce_limits(cost);
}

void RecentCheckpoints::enforce_limits(const Cost& cost) {
  // The latest added always stays: it is the one the caller is about to need.
  while (order_.size() > 1 && (order_.size() > limits_.count || bytes_ > limits_.bytes)) {
    drop(order_.front(), cost);
  }
}

void RecentCheckpoints::recount(ByCount::iterator it, const Cost& cost) {
  if (it == by_count_.end()) return;
  const ReplaySession::Checkpoint* before =
      it == by_count_.begin() ? nullptr : &std::prev(it)->second.checkpoint;
  bytes_ -= it->second.bytes;
  it->second.bytes = cost(it->second.checkpoint, before);
  bytes_ += it->second.bytes;
}

const ReplaySession::Checkpoint* RecentCheckpoints::at_or_before(uint64_t target) const {
  auto it = by_count_.upper_bound(target);
  if (it == by_count_.begin()) return nullptr;
  return &std::prev(it)->second.checkpoint;
}

void RecentCheckpoints::clear() {
  by_count_.clear();
  order_.clear();
  bytes_ = 0;
}

void RecentCheckpoints::drop(uint64_t count, const Cost& cost) {
  auto it = by_count_.find(count);
  if (it == by_count_.end()) return;
  bytes_ -= it->second.bytes;
  it = by_count_.erase(it);
  order_.erase(std::find(order_.begin(), order_.end(), count));
  recount(it, cost);  // the one after it shared its copies: they are its own now
}

}  // namespace hlrr::replay
