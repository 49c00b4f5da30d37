#include "replay/recent_checkpoints.h"

#include <algorithm>

namespace hlrr::replay {

void RecentCheckpoints::add(ReplaySession::Checkpoint checkpoint, uint64_t bytes) {
  const uint64_t count = checkpoint.count;
  if (contains(count)) drop(count);
  bytes_ += bytes;
  by_count_.emplace(count, Entry{std::move(checkpoint), bytes});
  order_.push_back(count);
  // The one just added always stays: it is the one the caller is about to need.
  while (order_.size() > 1 && (order_.size() > limits_.count || bytes_ > limits_.bytes)) {
    drop(order_.front());
  }
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

void RecentCheckpoints::drop(uint64_t count) {
  auto it = by_count_.find(count);
  if (it == by_count_.end()) return;
  bytes_ -= it->second.bytes;
  by_count_.erase(it);
  order_.erase(std::find(order_.begin(), order_.end(), count));
}

}  // namespace hlrr::replay
