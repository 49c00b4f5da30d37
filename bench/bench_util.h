// What every benchmark program needs besides its table: how it gives up, and its clocks.
#pragma once

#include <errno.h>  // program_invocation_short_name (glibc)
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/cpu_time.h"

namespace hlrr::bench {

// A benchmark that cannot measure says why in one line, named by its program, and exits 2.
[[noreturn]] inline void die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, message.c_str());
  std::exit(2);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

using base::thread_cpu_seconds;

}  // namespace hlrr::bench
