// Host functions that hlrun offers every guest beyond `print` (which Sandbox always has):
//   clock_ns() -> i64   monotonic host time in nanoseconds (non-deterministic: recorded)
#pragma once

#include "vmm/host_functions.h"

namespace hlrr::vmm {

void add_standard_host_functions(HostFunctionTable& table);

}  // namespace hlrr::vmm
