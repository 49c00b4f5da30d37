// Timeline: a far seek that starts from the recording's nearest memory delta instead of replaying
// from the nearest checkpoint, and a reverse continue that splits a long interval at one
// (replay/delta_start.h).
#include "replay/timeline.h"

namespace hlrr::replay {

DeltaStarts* Timeline::deltas() {
  if (!options_.delta_starts) return nullptr;
  if (!deltas_) deltas_ = std::make_unique<DeltaStarts>(session_);
  return deltas_.get();
}

bool Timeline::start_from_delta(uint64_t from, uint64_t target) {
  // Rebuilding reads the recording up to the delta: worth it only past an interval of replay.
  if (!options_.delta_starts || target <= from + options_.interval) return false;
  const DeltaPoint* point = deltas()->at_or_before(target);
  if (!point || point->count <= from + options_.interval) return false;
  return start_at(*point);
}

bool Timeline::split_at_delta(uint64_t low, uint64_t high) {
  if (!options_.delta_starts || high <= low + 2 * options_.interval) return false;
  const DeltaPoint* point = deltas()->at_or_before(high - 1);
  if (!point || point->count <= low + options_.interval) return false;
  return start_at(*point) && checkpoints_.count(point->count);
}

bool Timeline::start_at(const DeltaPoint& point) {
  auto start = deltas_->rebuild(point);
  if (!start) return false;  // replay reaches the unreadable chunk itself and reports it
  deltas_->teach(point);
  restore(*start);
  // The records at its count that execute nothing: the delta (compared with the memory just
  // rebuilt), a call's end, the next call's start.
  (void)session_.run_to(point.count);
  // Kept as a checkpoint: reverse execution from here scans back to it first.
  if (!session_.at_end() && session_.divergence().empty() && !checkpoints_.count(now())) {
    checkpoints_.emplace(now(), session_.checkpoint());
    count_bytes();
  }
  ++delta_starts_;
  return true;
}

}  // namespace hlrr::replay
