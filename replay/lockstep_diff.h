// find_parting: replays two recordings of the same guest side by side and names the first
// instruction after which their register files differ (`hltrace diff --replay`).
//
// The lock step starts where the recordings last agree (an exit both recorded alike, from
// trace::diff_traces): up to there both ran the same instructions. From there it single-steps
// both for `exact_steps` instructions (where a different argument usually shows first), then
// compares at window boundaries (doubling up to `max_window`) and bisects the first window that
// differs down to one instruction. A difference that appears and vanishes again inside one
// window is not seen by that window's check: the result is then a later parting, never an
// earlier one (docs/replay.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/expected.h"
#include "replay/replay_session.h"

namespace hlrr::replay {

struct LockstepOptions {
  uint64_t exact_steps = 100'000;
  uint64_t max_window = 1ull << 20;
};

struct Parting {
  uint64_t count = 0;      // instructions both had executed before the parting one
  uint64_t rip = 0;        // the parting instruction's address (the same in both)
  std::string difference;  // the first register that differs after it: "rax: 0x5 vs 0x7"
};

struct LockstepResult {
  std::optional<Parting> parting;  // nullopt: the register files never differed
  uint64_t end_a = 0, end_b = 0;   // where each replay stopped
};

base::Expected<LockstepResult> find_parting(ReplaySession& a, ReplaySession& b, uint64_t from,
                                            LockstepOptions options = {});

}  // namespace hlrr::replay
