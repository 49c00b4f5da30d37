// Timeline: reverse continue's search, interval by interval from the current position back
// (what may be skipped unreplayed, what must be scanned with the points set: timeline.h).
#include <algorithm>

#include "replay/timeline.h"

namespace hlrr::replay {

bool Timeline::cannot_hit(uint64_t low, uint64_t high) const {
  const auto& from = checkpoints_.at(low);
  const auto to = checkpoints_.find(high);
  const auto run = code_runs_.find(low);
  for (const auto& p : points_) {
    if (p.kind == vmm::DebugPointKind::kBreakpoint) {
      // The code that ran from `low` to at least `high` is known, and not the breakpoint's line.
      if (run == code_runs_.end() || run->second.to < high) return false;
      const uint64_t line = p.address >> vmm::CodeLog::kLineShift;
      if (std::binary_search(run->second.lines.begin(), run->second.lines.end(), line)) {
        return false;
      }
      if (from.registers.rip == p.address) return false;  // checked by hand in scan_interval
    } else if (p.kind == vmm::DebugPointKind::kWriteWatch) {
      // The later checkpoint shares the earlier one's copies: the dirty log saw no write.
      if (to == checkpoints_.end() || page_written(p, from, to->second)) return false;
    } else {
      return false;  // a read leaves no trace to look at
    }
  }
  return true;
}

StopKind Timeline::scan_interval(uint64_t low, uint64_t high, uint64_t start, std::stop_token stop,
                                 std::optional<std::pair<uint64_t, TimelineStop>>& last) {
  ++intervals_replayed_;
  restore(checkpoints_.at(low));
  // A breakpoint at the interval's first instruction: the vCPU steps over the one it starts on.
  const uint64_t rip = checkpoints_.at(low).registers.rip;
  for (const auto& p : points_) {
    if (p.kind == vmm::DebugPointKind::kBreakpoint && p.address == rip) {
      last = {low, {TimelineStop::Kind::kBreakpoint, p.address, p.kind}};
    }
  }
  arm(true);
  for (;;) {
    // Recent checkpoints on the way: the seek to the hit found (and the steps back after it)
    // start from one at most rolling_every() instructions before it, not from the interval's
    // start.
    const uint64_t boundary = std::min(high, next_rolling());
    const StopKind s = session_.run_to(boundary, stop);
    gather_code_lines();
    if (s == StopKind::kReachedCount && now() < high) {
      take_recent();
      continue;
    }
    if (s != StopKind::kDebugPoint) {
      // The whole interval ran from its checkpoint: its code lines are known now.
      if (s == StopKind::kReachedCount && checkpoints_.count(high)) file_code_lines();
      return s;
    }
    const TimelineStop hit = hit_stop();
    // A watchpoint stops after the access: report the accessing instruction itself.
    const uint64_t at = hit.kind == TimelineStop::Kind::kWatchpoint ? now() - 1 : now();
    if (at >= start) return StopKind::kReachedCount;
    last = {at, hit};
  }
}

TimelineStop Timeline::continue_backward(std::stop_token stop) {
  end_diversion();
  const uint64_t start = now();
  uint64_t high = start;
  // Where an interrupt returns to at once, however far the last checkpoint is.
  std::optional<ReplaySession::Checkpoint> here;
  if (!points_.empty() && start > 0) here = session_.checkpoint();
  // With nothing that can stop it, reverse continue goes to the start (a scan finds nothing).
  while (high > 0 && !points_.empty()) {
    if (stop.stop_requested()) break;
    // The interval [low, high): replay it with the debug points set, keep the last hit.
    auto it = checkpoints_.lower_bound(high);
    HLRR_CHECK(it != checkpoints_.begin());
    uint64_t low = std::prev(it)->first;
    // A long interval is searched from the last memory delta in it first.
    if (!cannot_hit(low, high) && split_at_delta(low, high)) {
      low = std::prev(checkpoints_.lower_bound(high))->first;
    }
    if (cannot_hit(low, high)) {
      high = low;
      continue;
    }
    instructions_searched_ += high - low;
    std::optional<std::pair<uint64_t, TimelineStop>> last;
    const StopKind s = only_write_watches() && high - low > 2 * options_.rolling
                           ? scan_written_parts(low, high, start, stop, last)
                           : scan_interval(low, high, start, stop, last);
    if (s == StopKind::kDivergence) return {TimelineStop::Kind::kDivergence};
    if (s == StopKind::kInterrupted) break;
    if (last) {
      const TimelineStop at = seek(last->first);
      return at.kind == TimelineStop::Kind::kStep ? last->second : at;
    }
    high = low;
  }
  if (stop.stop_requested() && here) {
    // Back where it started: an interrupted search found nothing gdb could show.
    arm(false);
    restore(*here);
    return {TimelineStop::Kind::kInterrupted};
  }
  const TimelineStop at = seek(0);
  return at.kind == TimelineStop::Kind::kStep ? TimelineStop{TimelineStop::Kind::kBegin} : at;
}

bool Timeline::only_write_watches() const {
  return std::all_of(points_.begin(), points_.end(), [](const vmm::DebugPoint& p) {
    return p.kind == vmm::DebugPointKind::kWriteWatch;
  });
}

bool Timeline::page_written(const vmm::DebugPoint& point, const ReplaySession::Checkpoint& a,
                            const ReplaySession::Checkpoint& b) {
  const uint64_t first = point.address / trace::kPageSize;
  const uint64_t last = (point.address + point.length - 1) / trace::kPageSize;
  for (uint64_t page = first; page <= last; ++page) {
    if (page >= a.pages.size() || page >= b.pages.size() || a.pages[page] != b.pages[page]) {
      return true;
    }
  }
  return false;
}

bool Timeline::watched_pages_written(const ReplaySession::Checkpoint& a,
                                     const ReplaySession::Checkpoint& b) const {
  return std::any_of(points_.begin(), points_.end(),
                     [&](const vmm::DebugPoint& p) { return page_written(p, a, b); });
}

// A watched page written somewhere in a long interval (a page shared with a busy variable, or
// written once): the hooked scan is ~10x slower than plain replay, so replay [low, high) plainly
// first, with a checkpoint every `rolling` instructions (each derived from the one before, so a
// page they share was not written in between), then scan with the hook only the parts in which
// a watched page was written, the latest first. More than kMaxParts such parts: the plain
// scan of the whole interval.
StopKind Timeline::scan_written_parts(uint64_t low, uint64_t high, uint64_t start,
                                      std::stop_token stop,
                                      std::optional<std::pair<uint64_t, TimelineStop>>& last) {
  constexpr size_t kMaxParts = 16;
  arm(false);
  restore(checkpoints_.at(low));
  ReplaySession::Checkpoint before = session_.checkpoint();
  std::vector<std::pair<ReplaySession::Checkpoint, uint64_t>> parts;  // start state, end count
  while (now() < high) {
    const uint64_t boundary = std::min(high, (now() / options_.rolling + 1) * options_.rolling);
    const StopKind s = session_.run_to(boundary, stop);
    gather_code_lines();
    // The recording may end at `high` (a reverse continue from the end).
    if (s != StopKind::kReachedCount && s != StopKind::kEnd) return s;
    ReplaySession::Checkpoint after = session_.checkpoint();
    if (watched_pages_written(before, after)) {
      if (parts.size() == kMaxParts) return scan_interval(low, high, start, stop, last);
      parts.emplace_back(std::move(before), now());
    }
    before = std::move(after);
    if (s == StopKind::kEnd) break;
  }
  if (checkpoints_.count(high)) file_code_lines();
  ++intervals_replayed_;
  ++scans_in_parts_;
  for (auto part = parts.rbegin(); part != parts.rend(); ++part) {
    restore(part->first);
    arm(true);
    for (;;) {
      const StopKind s = session_.run_to(part->second, stop);
      if (s != StopKind::kDebugPoint) {
        if (s != StopKind::kReachedCount && s != StopKind::kEnd) return s;
        break;
      }
      const uint64_t at = now() - 1;  // a watchpoint stops after the writing instruction
      if (at >= start) break;
      last = {at, hit_stop()};
    }
    arm(false);
    if (last) {
      // The seek to the hit starts from here, not from the interval's start.
      auto kept = checkpoints_.upper_bound(part->first.count);
      const uint64_t bytes = bytes_beyond(part->first, &std::prev(kept)->second);
      recent_.add(std::move(part->first), bytes);
      break;
    }
  }
  return StopKind::kReachedCount;
}

}  // namespace hlrr::replay
