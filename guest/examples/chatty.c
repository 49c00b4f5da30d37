/* chatty: a guest that talks to its host a lot (many exits: recording and replay fodder).
 *
 * chatter(n) -> i64: calls the host function clock_ns() (no arguments, returns an i64 of
 *   nanoseconds) n times and panics ("chatter: the clock went backwards") if a reading is
 *   smaller than the one before. After every 1000th call (i = 1000, 2000, ...) it prints
 *   "chatter: i/n\n", and at the end always prints "chatter: done, n clock_ns calls\n".
 *   It returns the number of host calls it made:
 *       n + floor(n / 1000) + 1        (n clock_ns calls, floor(n/1000) progress lines, 1 final)
 *   e.g. chatter(0) = 1, chatter(999) = 1000, chatter(1000) = 1002, chatter(2500) = 2503.
 *   n < 0 panics.
 */
#include "hlguest.h"

static int64_t read_clock(void) {
  const hl_value t = hl_call_host("clock_ns", NULL, 0);
  if (t.type != HL_I64) hl_panic("chatter: clock_ns did not return an i64");
  return hl_as_i64(t);
}

static hl_value chatter(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int64_t n = hl_as_i64(args[0]);
  if (n < 0) hl_panic("chatter: n must be >= 0");
  int64_t host_calls = 0;
  int64_t last = INT64_MIN;
  for (int64_t i = 1; i <= n; ++i) {
    const int64_t now = read_clock();
    ++host_calls;
    if (now < last) hl_panic("chatter: the clock went backwards");
    last = now;
    if (i % 1000 == 0) {
      hl_printf("chatter: %ld/%ld\n", i, n);
      ++host_calls;
    }
  }
  hl_printf("chatter: done, %ld clock_ns calls\n", n);
  ++host_calls;
  return hl_i64(host_calls);
}

void hl_main(void) {
  hl_register("chatter", chatter, "i");
}
