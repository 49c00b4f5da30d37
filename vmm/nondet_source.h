// Where the exit loop takes the results of non-deterministic instructions (rdtsc, rdtscp,
// rdrand, rdseed) that the software vCPU stops for. The recorder records what was supplied;
// replay supplies the recorded values instead.
#pragma once

#include <cstdint>

#include "vmm/vcpu_exit.h"

namespace hlrr::vmm {

struct NondetValue {
  uint64_t value = 0;  // rdtsc/rdtscp: the TSC; rdrand/rdseed: the random value
  uint64_t extra = 0;  // rdtscp: IA32_TSC_AUX (0); rdrand/rdseed: CF (1 = success)
};

// rdtsc/rdtscp: the host's CLOCK_MONOTONIC in nanoseconds (never decreasing, like an invariant
// TSC at 1 GHz); rdrand/rdseed: getrandom() bytes with CF = 1. Thread-safe.
NondetValue supply_nondet(NondetInstruction kind);

}  // namespace hlrr::vmm
