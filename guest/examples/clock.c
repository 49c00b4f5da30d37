/* clock: a guest that reads time through the `rdtsc` instruction instead of a host function,
 * so its results are not a function of its inputs: recording fodder for non-deterministic
 * instructions. On the software vCPU, hlrr supplies each rdtsc's result (the host's monotonic
 * clock in nanoseconds) and records it; on KVM rdtsc runs natively and cannot be recorded
 * (`hlrun --record` warns, naming stamp and ticks).
 *
 *   stamp()     -> i64: one rdtsc reading (EDX:EAX), as a signed 64-bit value.
 *   ticks(n)    -> i64: reads rdtsc, spins n iterations of a loop with no exits, reads it again
 *                  and returns the second reading minus the first (>= 0 on any sane TSC;
 *                  n < 0 counts as 0). Two rdtsc executions per call.
 *   stamps(n)   -> i64: n rdtsc readings (n < 0 counts as 0); panics ("stamps: the clock went
 *                  backwards") if one is smaller than the one before; returns the last minus
 *                  the first (0 for n <= 1).
 */
#include "hlguest.h"

static uint64_t read_tsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static hl_value stamp(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  return hl_i64((int64_t)read_tsc());
}

static hl_value ticks(const hl_value* args, uint32_t argc) {
  (void)argc;
  int64_t n = hl_as_i64(args[0]);
  const uint64_t start = read_tsc();
  for (volatile int64_t i = 0; i < n; ++i) {
  }
  const uint64_t end = read_tsc();
  return hl_i64((int64_t)(end - start));
}

static hl_value stamps(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int64_t n = hl_as_i64(args[0]);
  uint64_t first = 0, last = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t now = read_tsc();
    if (i == 0) first = now;
    if (i > 0 && now < last) hl_panic("stamps: the clock went backwards");
    last = now;
  }
  return hl_i64((int64_t)(last - first));
}

void hl_main(void) {
  hl_register("stamp", stamp, "");
  hl_register("ticks", ticks, "i");
  hl_register("stamps", stamps, "i");
}
