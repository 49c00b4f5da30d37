// The calling thread's CPU seconds. On a shared machine wall time swings with the load; CPU time
// much less, and it counts one thread's work alone (replay's checkpoints, a benchmark's round).
#pragma once

#include <time.h>

namespace hlrr::base {

inline double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace hlrr::base
