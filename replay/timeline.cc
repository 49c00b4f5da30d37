#include "replay/timeline.h"

#include <algorithm>

namespace hlrr::replay {

Timeline::Timeline(ReplaySession& session, TimelineOptions options)
    : session_(session), options_(options) {
  // Count 0 is the state before the first instruction, the first call's start applied.
  if (session_.instruction_count() == 0) (void)session_.run_to(0);
  maybe_checkpoint();
}

base::Status Timeline::set_debug_points(std::vector<vmm::DebugPoint> points) {
  // Refused here, not when a later command arms them (arm() cannot fail).
  if (auto st = vmm::check_debug_points(points, session_.memory().size()); !st) return st;
  points_ = std::move(points);
  if (armed_) return session_.set_debug_points(points_);
  return {};
}

void Timeline::begin_diversion() {
  if (diversion_) return;
  diversion_ = session_.checkpoint();
}

void Timeline::end_diversion() {
  if (!diversion_) return;
  session_.restore(*diversion_);
  diversion_.reset();
}

vmm::VcpuExit Timeline::run_diversion(bool step, std::stop_token stop) {
  HLRR_CHECK(diversion_.has_value());
  arm(true);
  return session_.run_unrecorded({.max_instructions = step ? 1u : 0u}, stop);
}

void Timeline::arm(bool on) {
  if (on == armed_) return;
  armed_ = on;
  const std::vector<vmm::DebugPoint> none;
  HLRR_CHECK(session_.set_debug_points(on ? points_ : none).has_value());
}

void Timeline::maybe_checkpoint() {
  const uint64_t n = now();
  if (n % options_.interval != 0 || checkpoints_.count(n)) return;
  ReplaySession::Checkpoint c = session_.checkpoint();
  bytes_ += c.bytes();
  checkpoints_.emplace(n, std::move(c));
  if (bytes_ <= options_.memory_cap || checkpoints_.size() < 3) return;
  // Thin out: keep the checkpoints on the doubled interval (0 always stays).
  options_.interval *= 2;
  for (auto it = checkpoints_.begin(); it != checkpoints_.end();) {
    if (it->first % options_.interval != 0) {
      bytes_ -= it->second.bytes();
      it = checkpoints_.erase(it);
    } else {
      ++it;
    }
  }
}

StopKind Timeline::run_forward(uint64_t target, std::stop_token stop) {
  for (;;) {
    maybe_checkpoint();
    if (now() >= target) return StopKind::kReachedCount;
    if (stop.stop_requested()) return StopKind::kReachedCount;
    const uint64_t boundary = (now() / options_.interval + 1) * options_.interval;
    const StopKind s = session_.run_to(std::min(target, boundary));
    if (s != StopKind::kReachedCount) {
      maybe_checkpoint();
      return s;
    }
  }
}

void Timeline::restore_before(uint64_t target) {
  auto it = checkpoints_.upper_bound(target);
  HLRR_CHECK(it != checkpoints_.begin());
  --it;
  // Going forward from here is cheaper when the checkpoint is no closer than now.
  if (now() <= target && it->first <= now() && !session_.at_end()) return;
  session_.restore(it->second);
}

TimelineStop Timeline::seek_or_end(uint64_t target) {
  end_diversion();
  arm(false);
  restore_before(target);
  const StopKind s = run_forward(target);
  if (s == StopKind::kEnd) return {TimelineStop::Kind::kEnd};
  if (s == StopKind::kDivergence) return {TimelineStop::Kind::kDivergence};
  return {TimelineStop::Kind::kStep};
}

TimelineStop Timeline::seek(uint64_t target) {
  const TimelineStop s = seek_or_end(target);
  if (s.kind == TimelineStop::Kind::kEnd) return {TimelineStop::Kind::kStep};
  return s;
}

TimelineStop Timeline::replay_forward(uint64_t target) {
  end_diversion();
  arm(false);
  const StopKind s = run_forward(target);
  if (s == StopKind::kDivergence) return {TimelineStop::Kind::kDivergence};
  return {s == StopKind::kEnd ? TimelineStop::Kind::kEnd : TimelineStop::Kind::kStep};
}

TimelineStop Timeline::step_forward() {
  end_diversion();
  const uint64_t target = now() + 1;
  arm(true);
  restore_before(target);
  for (;;) {
    switch (run_forward(target)) {
      case StopKind::kDebugPoint:
        if (const TimelineStop hit = hit_stop(); hit.kind == TimelineStop::Kind::kWatchpoint) {
          return hit;
        }
        continue;  // a breakpoint: the next run steps over it
      case StopKind::kEnd:
        return {TimelineStop::Kind::kEnd};
      case StopKind::kDivergence:
        return {TimelineStop::Kind::kDivergence};
      case StopKind::kReachedCount:
        return {TimelineStop::Kind::kStep};
    }
  }
}

TimelineStop Timeline::step_backward() {
  end_diversion();
  if (now() == 0) return {TimelineStop::Kind::kBegin};
  return seek(now() - 1);
}

TimelineStop Timeline::hit_stop() const {
  const vmm::VcpuExit& hit = session_.last_hit();
  return {hit.debug_point == vmm::DebugPointKind::kBreakpoint ? TimelineStop::Kind::kBreakpoint
                                                              : TimelineStop::Kind::kWatchpoint,
          hit.address, hit.debug_point};
}

TimelineStop Timeline::continue_forward(std::stop_token stop) {
  end_diversion();
  arm(true);
  for (;;) {
    const StopKind s = run_forward(UINT64_MAX, stop);
    switch (s) {
      case StopKind::kDebugPoint:
        return hit_stop();
      case StopKind::kEnd:
        return {TimelineStop::Kind::kEnd};
      case StopKind::kDivergence:
        return {TimelineStop::Kind::kDivergence};
      case StopKind::kReachedCount:
        return {TimelineStop::Kind::kInterrupted};
    }
  }
}

bool Timeline::only_write_watches() const {
  if (points_.empty()) return false;
  for (const auto& p : points_) {
    if (p.kind != vmm::DebugPointKind::kWriteWatch) return false;
  }
  return true;
}

bool Timeline::watched_pages_written(const ReplaySession::Checkpoint& a,
                                     const ReplaySession::Checkpoint& b) const {
  for (const auto& p : points_) {
    for (uint64_t page = p.address / trace::kPageSize;
         page <= (p.address + p.length - 1) / trace::kPageSize; ++page) {
      if (page >= a.pages.size() || page >= b.pages.size() || a.pages[page] != b.pages[page]) {
        return true;
      }
    }
  }
  return false;
}

TimelineStop Timeline::continue_backward(std::stop_token stop) {
  end_diversion();
  const uint64_t start = now();
  uint64_t high = start;
  while (high > 0) {
    if (stop.stop_requested()) {
      seek(start);
      return {TimelineStop::Kind::kInterrupted};
    }
    // The interval [low, high): replay it with the debug points set, keep the last hit.
    auto it = checkpoints_.lower_bound(high);
    HLRR_CHECK(it != checkpoints_.begin());
    --it;
    const uint64_t low = it->first;
    // With only write watchpoints set, an interval between two checkpoints in which no watched
    // page was written (the later checkpoint shares the earlier one's copy: the dirty log saw no
    // write) cannot hold a hit: skip it without replaying.
    if (auto next = checkpoints_.find(high); next != checkpoints_.end() && only_write_watches() &&
                                             !watched_pages_written(it->second, next->second)) {
      high = low;
      continue;
    }
    arm(false);
    session_.restore(it->second);
    std::optional<uint64_t> last;
    TimelineStop last_stop;
    // A breakpoint at the interval's first instruction: the vCPU steps over the one it starts on.
    if (auto regs = session_.registers()) {
      for (const auto& p : points_) {
        if (p.kind == vmm::DebugPointKind::kBreakpoint && p.address == regs->rip) {
          last = low;
          last_stop = {TimelineStop::Kind::kBreakpoint, p.address, p.kind};
        }
      }
    }
    arm(true);
    for (;;) {
      const StopKind s = session_.run_to(high);
      if (s != StopKind::kDebugPoint) break;
      const TimelineStop hit = hit_stop();
      // A watchpoint stops after the access: report the accessing instruction itself.
      const uint64_t at = hit.kind == TimelineStop::Kind::kWatchpoint ? now() - 1 : now();
      if (at >= start) break;
      last = at;
      last_stop = hit;
    }
    if (last) {
      seek(*last);
      return last_stop;
    }
    high = low;
  }
  seek(0);
  return {TimelineStop::Kind::kBegin};
}

}  // namespace hlrr::replay
