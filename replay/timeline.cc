#include "replay/timeline.h"

#include <algorithm>

#include "base/cpu_time.h"

namespace hlrr::replay {

Timeline::Timeline(ReplaySession& session, TimelineOptions options)
    : session_(session),
      options_(options),
      recent_(options.recent),
      activity_(std::min(options.interval, options.rolling)),
      written_(session.memory().dirty_log().open()),
      rolling_every_(options.rolling) {
  HLRR_CHECK(options_.rolling > 0);
  if (options_.memory_cap == TimelineOptions::kFromBudget) {
    options_.memory_cap =
        checkpoint_budget(session_.memory().size(), options_.memory_budget, options_.recent.bytes);
  }
  // Count 0 is the state before the first instruction, the first call's start applied.
  if (session_.instruction_count() == 0) (void)session_.run_to(0);
  restart_activity(now() == 0 ? 0 : UINT64_MAX);
  maybe_checkpoint();
}

base::Status Timeline::set_debug_points(std::vector<vmm::DebugPoint> points) {
  // Refused here, not when a later command arms them (arm() cannot fail).
  if (auto st = vmm::check_debug_points(points, session_.memory().size()); !st) return st;
  points_ = std::move(points);
  if (armed_) return session_.set_debug_points(points_);
  return {};
}

base::Status Timeline::add_debug_point(const vmm::DebugPoint& point) {
  std::vector<vmm::DebugPoint> points = points_;
  points.push_back(point);
  return set_debug_points(std::move(points));
}

base::Status Timeline::remove_debug_point(const vmm::DebugPoint& point) {
  std::vector<vmm::DebugPoint> points = points_;
  if (auto it = std::find(points.begin(), points.end(), point); it != points.end()) {
    points.erase(it);
  }
  return set_debug_points(std::move(points));
}

void Timeline::begin_diversion() {
  if (diversion_) return;
  diversion_ = session_.checkpoint();
  restart_activity(UINT64_MAX);  // what runs in a diversion is not the recording's
}

void Timeline::end_diversion() {
  if (!diversion_) return;
  restore(*diversion_);
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

void Timeline::restore(const ReplaySession::Checkpoint& c) {
  session_.restore(c);
  restart_activity(c.count);
}

StopKind Timeline::run_session(uint64_t target, std::stop_token stop) {
  const StopKind s = session_.run_to(target, stop);
  file_activity();
  return s;
}

void Timeline::file_activity() {
  const uint64_t n = now();
  const uint64_t w = activity_.window();
  if (continuous_from_ == UINT64_MAX || n <= filed_to_) return;
  ran_lines_.clear();
  written_pages_.clear();
  session_.collect_code_lines(ran_lines_);
  // A failed take (only KVM's collector can fail; replay runs on Unicorn): nothing more is
  // filed until replay restarts from a checkpoint.
  if (!written_.take(written_pages_)) return restart_activity(UINT64_MAX);
  activity_.add(filed_to_ / w, (n - 1) / w, ran_lines_, written_pages_);
  filed_to_ = n;
  // The windows this continuous run covered whole; the recording's last one ends at its end.
  const uint64_t first = (continuous_from_ + w - 1) / w;
  const uint64_t end = session_.at_end() ? (n + w - 1) / w : n / w;
  if (end > first) activity_.mark_known(first, end - 1);
}

void Timeline::restart_activity(uint64_t from) {
  ran_lines_.clear();
  session_.collect_code_lines(ran_lines_);  // drops what ran so far
  ran_lines_.clear();
  (void)written_.skip();  // a failure leaves pages that only widen the next filing's
  continuous_from_ = from;
  filed_to_ = from;
}

void Timeline::maybe_checkpoint() {
  const uint64_t n = now();
  if (n % options_.interval != 0) return;
  const double t0 = base::thread_cpu_seconds();
  if (!checkpoints_.count(n)) {
    auto [it, added] = checkpoints_.emplace(n, session_.checkpoint());
    const auto before = it == checkpoints_.begin() ? nullptr : &std::prev(it)->second;
    bytes_ += bytes_beyond(it->second, before);
    // The one after it now shares with it, not with the one before: counted afresh.
    if (std::next(it) != checkpoints_.end()) count_bytes();
  }
  if (bytes_ > options_.memory_cap && checkpoints_.size() >= 3) thin_out();
  checkpoint_seconds_ += base::thread_cpu_seconds() - t0;
}

// A page copy costs about as much as replaying this many instructions (~1.3 us against ~12 ns,
// measured on sort_hash's first pass, docs/replay.md). A sort writes ~1,000 pages in every
// million instructions, whatever the window: at one recent checkpoint per million, their copies
// were 10% of a continue.
constexpr uint64_t kReplayPerCopiedPage = 100;

void Timeline::take_recent() {
  const uint64_t n = now();
  if (checkpoints_.count(n) || recent_.contains(n)) return;
  const double t0 = base::thread_cpu_seconds();
  ReplaySession::Checkpoint c = session_.checkpoint();
  const uint64_t copied = c.own_bytes / trace::kPageSize;
  recent_.add(std::move(c), recent_cost());
  // The pages a window writes grow slower than the window (they are written again): the next
  // window is sized by this one's pages, in whole `rolling`s.
  const uint64_t wanted = copied * kReplayPerCopiedPage * options_.rolling_cost_ratio;
  rolling_every_ =
      std::max<uint64_t>(1, (wanted + options_.rolling - 1) / options_.rolling) * options_.rolling;
  checkpoint_seconds_ += base::thread_cpu_seconds() - t0;
}

// Page copies are shared from checkpoint to checkpoint, and a copy outlives the checkpoint that
// made it while a later one shares it: what a checkpoint keeps alive is every page it does not
// share with the one before it, not only the pages it copied itself.
uint64_t Timeline::bytes_beyond(const ReplaySession::Checkpoint& c,
                                const ReplaySession::Checkpoint* before) {
  // The first holds what it copied (never-written pages share one zero page).
  if (!before) return c.bytes();
  const uint64_t pages = c.pages.size() == before->pages.size()
                             ? c.pages.count_differences(before->pages)
                             : c.pages.size();
  return pages * trace::kPageSize + c.bytes() - c.own_bytes;
}

void Timeline::count_bytes() {
  bytes_ = 0;
  const ReplaySession::Checkpoint* before = nullptr;
  for (const auto& [count, c] : checkpoints_) {
    bytes_ += bytes_beyond(c, before);
    before = &c;
  }
}

RecentCheckpoints::Cost Timeline::recent_cost() {
  return [this](const ReplaySession::Checkpoint& recent,
                const ReplaySession::Checkpoint* recent_before) {
    // Beside the nearest checkpoint before it, kept or recent: they share the rest.
    auto kept = checkpoints_.upper_bound(recent.count);
    const ReplaySession::Checkpoint* base =
        kept == checkpoints_.begin() ? nullptr : &std::prev(kept)->second;
    if (recent_before && (!base || recent_before->count > base->count)) base = recent_before;
    return bytes_beyond(recent, base);
  };
}

// Keeps the checkpoints on the doubled interval (0 always stays).
void Timeline::thin_out() {
  options_.interval *= 2;
  std::erase_if(checkpoints_,
                [&](const auto& kept) { return kept.first % options_.interval != 0; });
  count_bytes();
  // A recent checkpoint counted beside a kept one just dropped holds more of its own now.
  recent_.recount_all(recent_cost());
}

StopKind Timeline::run_forward(uint64_t target, std::stop_token stop) {
  // A continue stops where no seek could have prepared for: wherever that is, the latest
  // checkpoint every rolling_every() instructions keeps the first step back from it short.
  for (;;) {
    maybe_checkpoint();  // may thin out: the interval can change on every turn
    const bool rolling = target == UINT64_MAX && options_.interval > options_.rolling;
    if (rolling && now() % rolling_every_ == 0) take_recent();
    if (now() >= target) return StopKind::kReachedCount;
    uint64_t boundary = (now() / options_.interval + 1) * options_.interval;
    if (rolling) boundary = std::min(boundary, next_rolling());
    const uint64_t from = now();
    const StopKind s = run_session(std::min(target, boundary), stop);
    instructions_replayed_ += now() - from;
    if (s != StopKind::kReachedCount) {
      maybe_checkpoint();
      return s;
    }
  }
}

void Timeline::restore_before(uint64_t target) {
  auto it = checkpoints_.upper_bound(target);
  HLRR_CHECK(it != checkpoints_.begin());
  const ReplaySession::Checkpoint* best = &std::prev(it)->second;
  if (const auto* recent = recent_.at_or_before(target); recent && recent->count > best->count) {
    best = recent;
  }
  // Going forward from here is cheaper when the checkpoint is no closer than now.
  const bool forward = now() <= target && best->count <= now() && !session_.at_end();
  if (start_from_delta(forward ? now() : best->count, target) || forward) return;
  restore(*best);
}

// A seek is most often followed by steps back: the first replays `near` instructions from the
// checkpoint left closest, and a step further back finds one at most four times as far.
StopKind Timeline::approach(uint64_t target, std::stop_token stop) {
  if (target == UINT64_MAX) return run_forward(target, stop);  // the end: a continue's rule
  std::vector<uint64_t> marks;
  for (uint64_t d = options_.near; d > 0 && d < target - now(); d *= 4) marks.push_back(target - d);
  for (auto mark = marks.rbegin(); mark != marks.rend(); ++mark) {
    if (const StopKind s = run_forward(*mark, stop); s != StopKind::kReachedCount) return s;
    take_recent();
  }
  return run_forward(target, stop);
}

TimelineStop Timeline::stop_for(StopKind kind) const {
  switch (kind) {
    case StopKind::kEnd:
      return {TimelineStop::Kind::kEnd};
    case StopKind::kDivergence:
      return {TimelineStop::Kind::kDivergence};
    case StopKind::kInterrupted:
      return {TimelineStop::Kind::kInterrupted};
    case StopKind::kDebugPoint:
      return hit_stop();
    case StopKind::kReachedCount:
      break;
  }
  return {TimelineStop::Kind::kStep};
}

TimelineStop Timeline::seek_or_end(uint64_t target, std::stop_token stop) {
  end_diversion();
  arm(false);
  restore_before(target);
  return stop_for(approach(target, stop));
}

TimelineStop Timeline::seek(uint64_t target, std::stop_token stop) {
  const TimelineStop s = seek_or_end(target, stop);
  if (s.kind == TimelineStop::Kind::kEnd) return {TimelineStop::Kind::kStep};
  return s;
}

TimelineStop Timeline::replay_forward(uint64_t target, std::stop_token stop) {
  end_diversion();
  arm(false);
  return stop_for(run_forward(target, stop));
}

TimelineStop Timeline::step_forward(std::stop_token stop) {
  end_diversion();
  const uint64_t target = now() + 1;
  arm(true);
  restore_before(target);
  for (;;) {
    const StopKind s = run_forward(target, stop);
    if (s != StopKind::kDebugPoint) return stop_for(s);
    if (const TimelineStop hit = hit_stop(); hit.kind == TimelineStop::Kind::kWatchpoint) {
      return hit;
    }
    // A breakpoint: the next run steps over it.
  }
}

TimelineStop Timeline::step_backward(std::stop_token stop) {
  end_diversion();
  if (now() == 0) return {TimelineStop::Kind::kBegin};
  return seek(now() - 1, stop);
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
  const StopKind s = run_forward(UINT64_MAX, stop);
  HLRR_CHECK(s != StopKind::kReachedCount);  // no count is the target
  return stop_for(s);
}

}  // namespace hlrr::replay
