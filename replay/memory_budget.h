// How much memory replay's checkpoints may hold, derived from what the whole process may use.
//
// hlreplay's memory is, besides a roughly fixed part (its code and heap, Unicorn's translations,
// the trace reader; kProcessReserve), guest memory (up to all of it resident), the Timeline's
// kept checkpoints (thinned back to their cap, but only after the checkpoint that passes it was
// taken: up to one checkpoint, at most the guest's size, beyond it) and the recent checkpoints
// (their limit, or the one that always stays, at most the guest's size; also briefly one more
// before the oldest is dropped). The pool that page copies come from keeps what it once held, so
// those peaks are what the process keeps. Their sum stays within the budget when the kept
// checkpoints' cap is
//     budget - kProcessReserve - guest - guest - max(recent limit, guest)
// (the transient extra checkpoint is counted once: kept and recent ones are never added at the
// same moment). For the default 512 MiB: 256 MiB for a 64 MiB guest, 64 MiB for 128 MiB. No
// less than kMinimumCheckpointBudget: a guest above ~138 MiB that writes all of its memory
// cannot be replayed within 512 MiB (a larger budget: hlreplay --memory-budget).
#pragma once

#include <cstdint>

namespace hlrr::replay {

constexpr uint64_t kDefaultReplayBudget = 512ull << 20;
constexpr uint64_t kProcessReserve = 64ull << 20;
constexpr uint64_t kMinimumCheckpointBudget = 32ull << 20;
constexpr uint64_t kDefaultRecentBytes = 64ull << 20;  // RecentCheckpointLimits::bytes

// The kept checkpoints' memory cap (TimelineOptions::memory_cap) for a guest of `guest_bytes`
// within a process budget of `budget` bytes, with recent checkpoints limited to `recent_bytes`.
uint64_t checkpoint_budget(uint64_t guest_bytes, uint64_t budget = kDefaultReplayBudget,
                           uint64_t recent_bytes = kDefaultRecentBytes);

}  // namespace hlrr::replay
