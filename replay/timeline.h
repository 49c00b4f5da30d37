// Timeline: moves a ReplaySession to any point of the recording, forwards and backwards
// (rr's ReplayTimeline is the model: a session that only runs forward, plus checkpoints).
//
// Checkpoints (the session's whole state) are taken as replay first passes every `interval`
// instructions, so going to any count re-executes at most `interval` instructions from the
// nearest checkpoint before it. When their memory exceeds `memory_cap` (by default derived from
// the guest's memory size so that the process stays within `memory_budget`: memory_budget.h),
// every other checkpoint is dropped and the interval doubles: memory stays bounded, seeks get at
// most twice as long.
// Where the debugger works, a few more (RecentCheckpoints) keep steps back short however far
// apart thinning has left those: a seek leaves them at `near`, 4 `near`, 16 `near`...
// instructions before its target; a forward continue keeps the latest of one every `rolling`
// instructions (a step back after it replays at most that many).
//
// Reverse continue searches backwards interval by interval (between kept checkpoints), and
// within an interval only where a hit can be: the ActivityMap, filled as replay runs, tells in
// which windows of `interval` (or `rolling`, the smaller) instructions a breakpoint's code line
// ran or a write watchpoint's pages were written. Those parts are replayed with the points set,
// the latest first, each reached by a plain replay from the checkpoint before it; the last hit
// before the current position wins. A watchpoint's hit is reported at the writing instruction
// (before it executes), a breakpoint's at its address. With no points set at all, reverse
// continue goes straight to the start; an interval with no part that can hit is skipped
// unreplayed.
//
// Not thread-safe; blocking. Every run honours the stop token (ReplaySession::run_to()), so an
// interrupt ends any operation within one block of guest code: kInterrupted.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <vector>

#include "replay/activity_map.h"
#include "replay/delta_start.h"
#include "replay/memory_budget.h"
#include "replay/recent_checkpoints.h"
#include "replay/replay_session.h"
#include "vmm/vcpu.h"

namespace hlrr::replay {

struct TimelineOptions {
  uint64_t interval = 100'000;  // instructions between checkpoints
  // Bytes of checkpoints kept; kFromBudget: what memory_budget leaves for them beside a guest of
  // this session's size (checkpoint_budget(): 256 MiB for 64 MiB, 64 MiB for 128 MiB).
  static constexpr uint64_t kFromBudget = UINT64_MAX;
  uint64_t memory_cap = kFromBudget;
  uint64_t memory_budget = kDefaultReplayBudget;  // the whole process's (memory_budget.h)
  uint64_t near = 4096;  // instructions a step back after a seek replays at most
  // Instructions between the recent checkpoints a forward continue leaves, at least: each
  // copies the pages written since the checkpoint before it, and a guest that writes many
  // pages gets them further apart (Timeline::rolling_every()).
  uint64_t rolling = 1'000'000;
  // Those recent checkpoints' page copies may cost at most 1/rolling_cost_ratio of the replay
  // between them (0: one every `rolling` instructions, whatever they copy).
  uint64_t rolling_cost_ratio = 40;
  RecentCheckpointLimits recent;
  // A far seek starts from the recording's nearest memory delta that holds contents when that is
  // nearer its target than any checkpoint (replay/delta_start.h).
  bool delta_starts = true;
};

// Where a timeline operation stopped.
struct TimelineStop {
  enum class Kind : uint8_t {
    kStep,         // the requested step or seek completed
    kBreakpoint,   // at a breakpoint (`address`)
    kWatchpoint,   // a watched access (`address` = the watched range's first byte)
    kBegin,        // the start of the recording
    kEnd,          // the end of the recording
    kInterrupted,  // the stop token fired
    kDivergence,   // replay diverged (ReplaySession::divergence())
  };
  Kind kind = Kind::kStep;
  uint64_t address = 0;
  vmm::DebugPointKind point = vmm::DebugPointKind::kBreakpoint;
};

class Timeline {
 public:
  explicit Timeline(ReplaySession& session, TimelineOptions options = {});

  ReplaySession& session() { return session_; }
  uint64_t now() const { return session_.instruction_count(); }

  // To instruction count `target` (the end of the recording if it ends before).
  [[nodiscard]] TimelineStop seek(uint64_t target, std::stop_token stop = {});
  // Forward to `target` from here, never restoring a checkpoint: every record on the way is
  // replayed (what learns call starts, ReplaySession::call_start()).
  [[nodiscard]] TimelineStop replay_forward(uint64_t target, std::stop_token stop = {});
  // One instruction forward; a watched access by it is reported (kWatchpoint), as a live
  // single step reports it, and breakpoints never stop it.
  [[nodiscard]] TimelineStop step_forward(std::stop_token stop = {});
  [[nodiscard]] TimelineStop step_backward(std::stop_token stop = {});
  // Runs forward / backward to the next / previous break- or watchpoint hit, or an end.
  [[nodiscard]] TimelineStop continue_forward(std::stop_token stop);
  [[nodiscard]] TimelineStop continue_backward(std::stop_token stop);

  // The break- and watchpoints: the timeline alone keeps them (the debugger's Z/z packets
  // through ReplayTarget), and arms them on the session only for runs that stop at them.
  base::Status set_debug_points(std::vector<vmm::DebugPoint> points);
  base::Status add_debug_point(const vmm::DebugPoint& point);
  // Removes one instance of `point` (gdb inserts a point once per location); absent: no-op.
  base::Status remove_debug_point(const vmm::DebugPoint& point);
  const std::vector<vmm::DebugPoint>& debug_points() const { return points_; }

  // A diversion (rr's DiversionSession): a throwaway copy of the state at the current position,
  // in which a debugger writes registers and memory and runs the guest freely, as an inferior
  // call (`print f(x)`) does. begin_diversion() saves the recorded state (no-op when diverted);
  // end_diversion() restores it exactly (no-op when not diverted). Every move on the timeline
  // (seek, steps, continues, either way) ends a diversion first.
  bool diverted() const { return diversion_.has_value(); }
  void begin_diversion();
  void end_diversion();
  // The registers of the recorded state the diversion left (valid while diverted()).
  const vmm::RegisterFile& diversion_origin() const { return diversion_->registers; }
  uint64_t diversion_count() const { return diversion_->count; }
  // Runs the diversion with the debug points set: one instruction (`step`), or until a debug
  // point, an exit or `stop`. No record is consulted: a host call is an exit like any other.
  vmm::VcpuExit run_diversion(bool step, std::stop_token stop);

  uint64_t checkpoint_bytes() const { return bytes_; }
  // The cap on checkpoint_bytes() (thinning keeps them within it).
  uint64_t memory_cap() const { return options_.memory_cap; }
  size_t checkpoint_count() const { return checkpoints_.size(); }
  size_t recent_checkpoint_count() const { return recent_.size(); }
  // Instructions replayed by seeks, steps and forward continues so far.
  uint64_t instructions_replayed() const { return instructions_replayed_; }
  uint64_t interval() const { return options_.interval; }
  // Intervals replayed by reverse continues so far (the others were skipped unreplayed).
  uint64_t intervals_replayed() const { return intervals_replayed_; }
  // Intervals of those scanned only in parts (where the activity map allowed a hit).
  uint64_t scans_in_parts() const { return scans_in_parts_; }
  // What replay has learnt of where code ran and memory was written (activity_map.h).
  const ActivityMap& activity() const { return activity_; }
  // Seeks that started from a memory delta (timeline_delta.cc).
  uint64_t delta_starts() const { return delta_starts_; }
  // Instructions reverse continues scanned with the points set (the parts of intervals) so far.
  uint64_t instructions_searched() const { return instructions_searched_; }
  // Instructions between the recent checkpoints a continue or a reverse continue's scan leaves
  // now: `rolling`, or more where the guest writes so many pages that each such checkpoint
  // would cost more than TimelineOptions::rolling_cost_ratio allows.
  uint64_t rolling_every() const { return rolling_every_; }
  // CPU seconds this thread spent taking kept and recent checkpoints (their page copies, the
  // pool's growth, counting and thinning), for `monitor checkpoints` and benchmarks.
  double checkpoint_seconds() const { return checkpoint_seconds_; }
  // The recording's memory deltas as starts (nullptr when TimelineOptions::delta_starts is off).
  DeltaStarts* deltas();

 private:
  TimelineStop seek_or_end(uint64_t target, std::stop_token stop);
  // Runs forward (debug points as currently set on the session) to `target`, taking checkpoints;
  // with no target (UINT64_MAX: a continue), keeps the latest as recent ones.
  StopKind run_forward(uint64_t target, std::stop_token stop = {});
  // run_forward() to `target`, leaving recent checkpoints at target - near * 4^i on the way.
  StopKind approach(uint64_t target, std::stop_token stop);
  void maybe_checkpoint();
  // Takes a recent checkpoint here, unless one (or a kept one) exists; adapts rolling_every().
  void take_recent();
  // The next count at which a continue or a scan takes a recent checkpoint.
  uint64_t next_rolling() const { return (now() / rolling_every_ + 1) * rolling_every_; }
  void thin_out();
  // Bytes of the page copies `c` holds that `before` (the checkpoint before it) does not share.
  static uint64_t bytes_beyond(const ReplaySession::Checkpoint& c,
                               const ReplaySession::Checkpoint* before);
  void count_bytes();
  void restore_before(uint64_t target);
  // What a recent checkpoint holds of its own, beside the nearest checkpoint before it.
  RecentCheckpoints::Cost recent_cost();
  // Starts from the last memory delta at or before `target` if it is more than an interval past
  // `from` (where replay would start otherwise); false: no such delta.
  bool start_from_delta(uint64_t from, uint64_t target);
  // Reverse continue: a checkpoint at the last delta in [low, high) when that is more than an
  // interval after `low`, so that the interval is searched from there first.
  bool split_at_delta(uint64_t low, uint64_t high);
  bool start_at(const DeltaPoint& point);
  void restore(const ReplaySession::Checkpoint& c);
  // Every run of the session: to `target`, then files what the run did in the activity map.
  StopKind run_session(uint64_t target, std::stop_token stop);
  void file_activity();
  // Replay jumped (a restore) or left the recording (a diversion): what ran and was written
  // since the last filing is dropped, and replay runs continuously from `from` on (UINT64_MAX:
  // until the next restore, nothing is filed).
  void restart_activity(uint64_t from);
  // The windows of [low, high) in which a debug point may hit.
  WindowSet hit_windows(uint64_t low, uint64_t high) const;
  // Replays the parts of [low, high) where a hit may be, the latest first, with the points set:
  // the last hit before `start`, if any.
  StopKind scan_interval(uint64_t low, uint64_t high, uint64_t start, const WindowSet& windows,
                         std::stop_token stop,
                         std::optional<std::pair<uint64_t, TimelineStop>>& last);
  // Replays [from, to) with the points set, keeping the last hit before `start` in `last`.
  StopKind scan_part(uint64_t from, uint64_t to, uint64_t start, std::stop_token stop,
                     std::optional<std::pair<uint64_t, TimelineStop>>& last);
  // Runs to `target` (as armed), leaving a recent checkpoint every rolling_every() instructions;
  // stops at a debug point.
  StopKind run_rolling(uint64_t target, std::stop_token stop);
  TimelineStop stop_for(StopKind kind) const;
  TimelineStop hit_stop() const;
  void arm(bool on);
  // Whether a watched page differs between two checkpoints of one chain (was written between).
  static bool page_written(const vmm::DebugPoint& point, const ReplaySession::Checkpoint& a,
                           const ReplaySession::Checkpoint& b);

  ReplaySession& session_;
  TimelineOptions options_;
  std::map<uint64_t, ReplaySession::Checkpoint> checkpoints_;
  uint64_t bytes_ = 0;
  RecentCheckpoints recent_;
  std::vector<vmm::DebugPoint> points_;
  bool armed_ = false;
  std::optional<ReplaySession::Checkpoint> diversion_;
  ActivityMap activity_;
  uint64_t continuous_from_ = UINT64_MAX;  // replay ran without a jump from here (or unknown)
  uint64_t filed_to_ = UINT64_MAX;         // what it did is filed up to here
  vmm::DirtyPageLog::Cursor written_;      // pages written since filed_to_
  std::vector<uint64_t> ran_lines_;        // file_activity()'s scratch: code lines that ran
  std::vector<uint64_t> written_pages_;    // and pages written since filed_to_
  uint64_t intervals_replayed_ = 0;
  uint64_t instructions_replayed_ = 0;
  uint64_t scans_in_parts_ = 0;
  std::unique_ptr<DeltaStarts> deltas_;  // made by the first seek that could use one
  uint64_t delta_starts_ = 0;
  uint64_t instructions_searched_ = 0;
  uint64_t rolling_every_ = 0;  // set from options_.rolling
  double checkpoint_seconds_ = 0;
};

}  // namespace hlrr::replay
