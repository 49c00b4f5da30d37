// RecentCheckpoints: a small pool of extra checkpoints where the debugger is working, beside
// the Timeline's evenly spaced ones. Those are thinned as the recording gets longer (their
// memory is capped), so on a 10^9-instruction recording they end up millions of instructions
// apart, and a step back from between two of them would replay most of that distance. The
// Timeline adds here the checkpoints that make the next reverse step short (see timeline.h);
// the pool keeps the latest few, bounded in number and in bytes, oldest dropped first.
#pragma once

#include <cstdint>
#include <deque>
#include <map>

#include "replay/replay_session.h"

namespace hlrr::replay {

struct RecentCheckpointLimits {
  size_t count = 48;
  uint64_t bytes = 64ull << 20;  // counted as pages not shared with the kept checkpoint before
};

class RecentCheckpoints {
 public:
  using Limits = RecentCheckpointLimits;
  explicit RecentCheckpoints(Limits limits = {}) : limits_(limits) {}

  bool contains(uint64_t count) const { return by_count_.count(count) != 0; }
  // Keeps `checkpoint` (replacing one at the same count), counted as `bytes` of memory of its
  // own, then drops the oldest past the limits.
  void add(ReplaySession::Checkpoint checkpoint, uint64_t bytes);
  // The latest checkpoint at or before instruction count `target`, or null.
  const ReplaySession::Checkpoint* at_or_before(uint64_t target) const;
  void clear();

  size_t size() const { return by_count_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  void drop(uint64_t count);

  Limits limits_;
  struct Entry {
    ReplaySession::Checkpoint checkpoint;
    uint64_t bytes = 0;
  };
  std::map<uint64_t, Entry> by_count_;
  std::deque<uint64_t> order_;  // counts in the order they were added, oldest first
  uint64_t bytes_ = 0;
};

}  // namespace hlrr::replay
