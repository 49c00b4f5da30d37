// Timeline: reverse continue's search, interval by interval from the current position back
// (what may be skipped unreplayed, what must be scanned with the points set: timeline.h).
#include <algorithm>

#include "replay/timeline.h"

namespace hlrr::replay {

WindowSet Timeline::hit_windows(uint64_t low, uint64_t high) const {
  WindowSet windows;
  const uint64_t first = low / activity_.window();
  const uint64_t last = (high - 1) / activity_.window();
  const auto from = checkpoints_.find(low);
  const auto to = checkpoints_.find(high);
  for (const auto& p : points_) {
    // Two checkpoints of one chain that share the watched pages' copies: no write between.
    if (p.kind == vmm::DebugPointKind::kWriteWatch && from != checkpoints_.end() &&
        to != checkpoints_.end() && !page_written(p, from->second, to->second)) {
      continue;
    }
    activity_.add_candidates(p, first, last, windows);
  }
  return windows;
}

// The parts latest first; a part of many windows from its end, in chunks of 1, 2, 4... windows
// (a breakpoint whose code runs everywhere hits in the last window: that one is scanned, not the
// whole interval, and scanning backwards costs at most twice the scans that find nothing).
StopKind Timeline::scan_interval(uint64_t low, uint64_t high, uint64_t start,
                                 const WindowSet& windows, std::stop_token stop,
                                 std::optional<std::pair<uint64_t, TimelineStop>>& last) {
  ++intervals_replayed_;
  const uint64_t w = activity_.window();
  const uint64_t searched = instructions_searched_;
  for (auto part = windows.ranges().rbegin(); part != windows.ranges().rend() && !last; ++part) {
    uint64_t chunk = 1;
    for (uint64_t end = part->last + 1; end > part->first && !last; chunk *= 2) {
      const uint64_t begin = end - std::min(chunk, end - part->first);
      const StopKind s =
          scan_part(std::max(low, begin * w), std::min(high, end * w), start, stop, last);
      if (s != StopKind::kReachedCount && s != StopKind::kEnd) return s;
      end = begin;
    }
  }
  if (instructions_searched_ - searched < high - low) ++scans_in_parts_;
  return StopKind::kReachedCount;
}

StopKind Timeline::scan_part(uint64_t from, uint64_t to, uint64_t start, std::stop_token stop,
                             std::optional<std::pair<uint64_t, TimelineStop>>& last) {
  // To the part's start plainly, from the best start before it (as a seek does), leaving a
  // recent checkpoint there: the seek to a hit in the part replays from it.
  arm(false);
  if (now() != from) {
    restore_before(from);
    if (const StopKind s = run_rolling(from, stop); s != StopKind::kReachedCount) return s;
    take_recent();
  }
  instructions_searched_ += to - from;
  // A breakpoint at the part's first instruction: the vCPU steps over the one it starts on.
  const auto regs = session_.registers();
  for (const auto& p : points_) {
    if (p.kind == vmm::DebugPointKind::kBreakpoint && regs && p.address == regs->rip &&
        from < start) {
      last = {from, {TimelineStop::Kind::kBreakpoint, p.address, p.kind}};
    }
  }
  arm(true);
  for (;;) {
    const StopKind s = run_rolling(to, stop);
    if (s != StopKind::kDebugPoint) return s;
    const TimelineStop hit = hit_stop();
    // A watchpoint stops after the access: report the accessing instruction itself.
    const uint64_t at = hit.kind == TimelineStop::Kind::kWatchpoint ? now() - 1 : now();
    if (at >= start) return StopKind::kReachedCount;  // later hits are after it too
    last = {at, hit};
  }
}

StopKind Timeline::run_rolling(uint64_t target, std::stop_token stop) {
  for (;;) {
    // Recent checkpoints on the way: the seek to the hit found (and the steps back after it)
    // start from one at most rolling_every() instructions before it.
    const StopKind s = run_session(std::min(target, next_rolling()), stop);
    if (s != StopKind::kReachedCount || now() >= target) return s;
    take_recent();
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
    WindowSet windows = hit_windows(low, high);
    // A long interval is searched from the last memory delta in it first.
    if (!windows.empty() && split_at_delta(low, high)) {
      low = std::prev(checkpoints_.lower_bound(high))->first;
      windows = hit_windows(low, high);
    }
    if (windows.empty()) {
      high = low;
      continue;
    }
    std::optional<std::pair<uint64_t, TimelineStop>> last;
    const StopKind s = scan_interval(low, high, start, windows, stop, last);
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

}  // namespace hlrr::replay
