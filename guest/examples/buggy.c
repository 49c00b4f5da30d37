/* buggy: a guest with a plausible off-by-one, for the debugger (watchpoints, reverse
 * execution) to find.
 *
 *   add_sample(v)  records v; returns the number of samples recorded, or -1 when full.
 *   mean()         the integer mean of the recorded samples (sum / count; 0 when empty).
 *   sample_count() g_stats.count as it is.
 *   reset()        forgets all samples (returns void).
 *
 * The bug: the "full" check is `count > 16` where it should be `count >= 16`, so the 17th
 * add_sample stores its value into samples[16], which is `count` itself (it directly follows
 * the array). The store happens after the increment, so it is the last write to count:
 * after 16 samples, add_sample(1000) returns 17 (the count it believes in) but leaves count =
 * 1000, every later add_sample returns -1 (count > 16), and mean() sums the 16 real samples
 * (its loop is clamped to the array) but divides by 1000. With samples 10, 20, ..., 160:
 * mean() = 85 before, 1360 / 1000 = 1 after. A debugger session: `watch g_stats.count`, reverse-continue
 * from the end of that call stops on the line marked BUG below (old value 17, new 1000).
 */
#include "hlguest.h"

#define MAX_SAMPLES 16

struct stats {
  int64_t samples[MAX_SAMPLES];
  int64_t count; /* must directly follow samples: the bug writes samples[16] */
};

struct stats g_stats;

static hl_value add_sample(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int64_t v = hl_as_i64(args[0]);
  if (g_stats.count > MAX_SAMPLES) return hl_i64(-1); /* should be >= */
  const int64_t slot = g_stats.count++;
  g_stats.samples[slot] = v; /* BUG: off-by-one store */
  return hl_i64(slot + 1);
}

static hl_value mean(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  if (g_stats.count == 0) return hl_i64(0);
  const int64_t n = g_stats.count < MAX_SAMPLES ? g_stats.count : MAX_SAMPLES;
  int64_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += g_stats.samples[i];
  return hl_i64(sum / g_stats.count);
}

static hl_value sample_count(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  return hl_i64(g_stats.count);
}

static hl_value reset(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  memset(&g_stats, 0, sizeof g_stats);
  return hl_void();
}

void hl_main(void) {
  hl_register("add_sample", add_sample, "i");
  hl_register("mean", mean, "");
  hl_register("sample_count", sample_count, "");
  hl_register("reset", reset, "");
}

/* For debuggers, not registered (the host never calls it): gdb's `print square(7)` and
 * breakpoint conditions such as `break add_sample if square(args[0].u.i64) == 900` call it in
 * the guest, live and on a replay. */
int64_t square(int64_t x) {
  return x * x;
}
