// Host functions that hlrun offers every guest beyond `print` (which Sandbox always has):
//   clock_ns() -> i64          monotonic host time in nanoseconds
//   realtime_ns() -> i64       wall-clock time in nanoseconds since 1970 (musl guests' time())
//   random_bytes(n) -> bytes   n <= 4096 bytes of host entropy (musl guests' getrandom())
// All three are non-deterministic: their results are recorded and replayed.
#pragma once

#include "vmm/host_functions.h"

namespace hlrr::vmm {

void add_standard_host_functions(HostFunctionTable& table);

}  // namespace hlrr::vmm
