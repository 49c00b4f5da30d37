// Timeline: moves a ReplaySession to any point of the recording, forwards and backwards
// (rr's ReplayTimeline is the model: a session that only runs forward, plus checkpoints).
//
// Checkpoints (the session's whole state) are taken as replay first passes every `interval`
// instructions, so going to any count re-executes at most `interval` instructions from the
// nearest checkpoint before it. When their memory exceeds `memory_cap`, every other checkpoint
// is dropped and the interval doubles: memory stays bounded, seeks get at most twice as long.
//
// Reverse continue searches backwards interval by interval: from the checkpoint that starts an
// interval it replays forward with the break- and watchpoints set, remembers the last hit
// before the current position, and if there was none moves to the previous interval. A
// watchpoint's hit is reported at the writing instruction (before it executes), a breakpoint's
// at its address. Not thread-safe; blocking; long operations poll the stop token between
// intervals.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stop_token>
#include <vector>

#include "replay/replay_session.h"
#include "vmm/vcpu.h"

namespace hlrr::replay {

struct TimelineOptions {
  uint64_t interval = 100'000;         // instructions between checkpoints
  uint64_t memory_cap = 512ull << 20;  // bytes of checkpoints kept
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
  TimelineStop seek(uint64_t target);
  // Forward to `target` from here, never restoring a checkpoint: every record on the way is
  // replayed (what learns call starts, ReplaySession::call_start()).
  TimelineStop replay_forward(uint64_t target);
  // One instruction forward; a watched access by it is reported (kWatchpoint), as a live
  // single step reports it, and breakpoints never stop it.
  TimelineStop step_forward();
  TimelineStop step_backward();
  // Runs forward / backward to the next / previous break- or watchpoint hit, or an end.
  TimelineStop continue_forward(std::stop_token stop);
  TimelineStop continue_backward(std::stop_token stop);

  // Replaces the break- and watchpoints.
  base::Status set_debug_points(std::vector<vmm::DebugPoint> points);

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
  size_t checkpoint_count() const { return checkpoints_.size(); }
  uint64_t interval() const { return options_.interval; }

 private:
  TimelineStop seek_or_end(uint64_t target);
  // Runs forward (debug points as currently set on the session) to `target`, taking checkpoints.
  StopKind run_forward(uint64_t target, std::stop_token stop = {});
  void maybe_checkpoint();
  void restore_before(uint64_t target);
  TimelineStop hit_stop() const;
  void arm(bool on);
  bool only_write_watches() const;
  // Whether a watched page differs between two checkpoints (was written in between).
  bool watched_pages_written(const ReplaySession::Checkpoint& a,
                             const ReplaySession::Checkpoint& b) const;

  ReplaySession& session_;
  TimelineOptions options_;
  std::map<uint64_t, ReplaySession::Checkpoint> checkpoints_;
  uint64_t bytes_ = 0;
  std::vector<vmm::DebugPoint> points_;
  bool armed_ = false;
  std::optional<ReplaySession::Checkpoint> diversion_;
};

}  // namespace hlrr::replay
