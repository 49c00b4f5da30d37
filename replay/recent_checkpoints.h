// RecentCheckpoints: a small pool of extra checkpoints where the debugger is working, beside
// the Timeline's evenly spaced ones. Those are thinned as the recording gets longer (their
// memory is capped), so on a 10^9-instruction recording they end up millions of instructions
// apart, and a step back from between two of them would replay most of that distance. The
// Timeline adds here the checkpoints that make the next reverse step short (see timeline.h);
// the pool keeps the latest few, bounded in number and in bytes, oldest dropped first.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>

#include "replay/replay_session.h"

namespace hlrr::replay {

struct RecentCheckpointLimits {
  size_t count = 48;
  // Counted as the pages each holds that the checkpoint before it, kept or recent, does not.
  uint64_t bytes = 64ull << 20;
};

class RecentCheckpoints {
 public:
  using Limits = RecentCheckpointLimits;
  explicit RecentCheckpoints(Limits limits = {}) : limits_(limits) {}

  // The bytes of memory `c` holds of its own, beside `recent_before` (the recent checkpoint
  // before it, or null) and the kept ones (the caller's).
  using Cost = std::function<uint64_t(const ReplaySession::Checkpoint& c,
                                      const ReplaySession::Checkpoint* recent_before)>;

  bool contains(uint64_t count) const { return by_count_.count(count) != 0; }
  // Keeps `checkpoint` (replacing one at the same count), then drops the oldest past the limits.
  // Checkpoints near each other share most page copies: each is counted by `cost` beside its
  // neighbour before it, and recounted when that neighbour changes (an add or a drop between).
  void add(ReplaySession::Checkpoint checkpoint, const Cost& cost);
  // Counts every one afresh (the caller's kept checkpoints changed: each shares less with them
  // once some are dropped), then drops the oldest past the limits.
  void recount_all(const Cost& cost);
  // The latest checkpoint at or before instruction count `target`, or null.
  const ReplaySession::Checkpoint* at_or_before(uint64_t target) const;
  void clear();

  size_t size() const { return by_count_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Entry {
    ReplaySession::Checkpoint checkpoint;
    uint64_t bytes = 0;
  };
  using ByCount = std::map<uint64_t, Entry>;

  void drop(uint64_t count, const Cost& cost);
  // Drops the oldest added past the limits, but never the latest.
  void enforce_limits(const Cost& cost);
  // Counts the entry at `it` (if any) afresh beside the one before it.
  void recount(ByCount::iterator it, const Cost& cost);

  Limits limits_;
  ByCount by_count_;
  std::deque<uint64_t> order_;  // counts in the order they were added, oldest first
  uint64_t bytes_ = 0;
};

}  // namespace hlrr::replay
