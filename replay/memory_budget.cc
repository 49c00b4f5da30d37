#include "replay/memory_budget.h"

#include <algorithm>

namespace hlrr::replay {

uint64_t checkpoint_budget(uint64_t guest_bytes, uint64_t budget, uint64_t recent_bytes) {
  const uint64_t others = kProcessReserve + 2 * guest_bytes + std::max(recent_bytes, guest_bytes);
  if (budget < others + kMinimumCheckpointBudget) return kMinimumCheckpointBudget;
  return budget - others;
}

}  // namespace hlrr::replay
