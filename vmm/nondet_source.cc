#include "vmm/nondet_source.h"

#include <sys/random.h>

#include <ctime>

namespace hlrr::vmm {

NondetValue supply_nondet(NondetInstruction kind) {
  switch (kind) {
    case NondetInstruction::kRdtsc:
    case NondetInstruction::kRdtscp: {
      timespec ts{};
      clock_gettime(CLOCK_MONOTONIC, &ts);
      return {
          static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec),
          0};
    }
    case NondetInstruction::kRdrand:
    case NondetInstruction::kRdseed: {
      uint64_t value = 0;
      // 8 bytes from the urandom pool never block or come back short once it is initialised;
      // if it ever fails, report what a busy DRNG reports: CF = 0, value 0.
      if (getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value)) return {0, 0};
      return {value, 1};
    }
  }
  return {};
}

}  // namespace hlrr::vmm
