/* compute: CPU-bound guest functions with results a host can check independently.
 *
 * sort_hash(n, seed) -> i64, exactly:
 *   1. PRNG: Marsaglia's xorshift64 with shifts (13, 7, 17) on a uint64_t state:
 *          x ^= x << 13;  x ^= x >> 7;  x ^= x << 17;   (the new x is the output)
 *      The state starts as (uint64_t)seed; a zero seed (xorshift's fixed point) is replaced by
 *      0x9E3779B97F4A7C15.
 *   2. a[i] = (uint32_t)(x >> 32) for i = 0 .. n-1, where x is the state after i+1 steps
 *      (the upper half of each output).
 *   3. Sort a ascending as unsigned 32-bit integers (an in-place heap sort; the sorted array
 *      is unique, so any sort gives the same bytes), then check it is sorted (hl_panic if not).
 *   4. FNV-1a 64 over the n*4 bytes of the sorted array in memory order (each element
 *      little-endian): h = 0xcbf29ce484222325; for each byte b: h ^= b; h *= 0x100000001b3
 *      (mod 2^64). Return h reinterpreted as int64.
 *   n = 0 returns 0xcbf29ce484222325 (as int64); n < 0 panics; so does running out of heap
 *   (4 bytes per element; the array is released before returning, so calls can repeat).
 *
 * fib(n) -> i64: F(0) = 0, F(1) = 1, F(k) = F(k-1) + F(k-2) mod 2^64, computed iteratively;
 *   n <= 0 returns 0. (F(93) is the first that wraps.)
 */
#include "hlguest.h"

static uint64_t xorshift64(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

/* Restores the max-heap property below `root` in a[0..n). */
static void sift_down(uint32_t* a, uint64_t root, uint64_t n) {
  for (;;) {
    uint64_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && a[child + 1] > a[child]) ++child;
    if (a[root] >= a[child]) return;
    const uint32_t t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

/* Heap sort: O(n log n), no recursion, no extra memory. */
static void heap_sort(uint32_t* a, uint64_t n) {
  if (n < 2) return;
  for (uint64_t i = n / 2; i-- > 0;) sift_down(a, i, n);
  for (uint64_t end = n - 1; end > 0; --end) {
    const uint32_t t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift_down(a, 0, end);
  }
}

static uint64_t fnv1a64(const void* data, uint64_t len) {
  const unsigned char* p = data;
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static hl_value sort_hash(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int64_t n = hl_as_i64(args[0]);
  uint64_t state = (uint64_t)hl_as_i64(args[1]);
  if (n < 0) hl_panic("sort_hash: n must be >= 0");
  if (state == 0) state = 0x9E3779B97F4A7C15ull;

  const uint64_t mark = hl_alloc_mark();
  uint32_t* a = (uint64_t)n <= UINT64_MAX / 4 ? hl_alloc((uint64_t)n * 4) : NULL;
  if (a == NULL) hl_panic("sort_hash: out of memory");
  for (int64_t i = 0; i < n; ++i) a[i] = (uint32_t)(xorshift64(&state) >> 32);

  heap_sort(a, (uint64_t)n);
  for (int64_t i = 1; i < n; ++i) {
    if (a[i - 1] > a[i]) hl_panic("sort_hash: the array is not sorted");
  }

  const uint64_t hash = fnv1a64(a, (uint64_t)n * 4);
  hl_alloc_release(mark);
  return hl_i64((int64_t)hash);
}

static hl_value fib(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int64_t n = hl_as_i64(args[0]);
  uint64_t prev = 0, cur = 1; /* F(k-1), F(k) */
  if (n <= 0) return hl_i64(0);
  for (int64_t k = 1; k < n; ++k) {
    const uint64_t next = prev + cur;
    prev = cur;
    cur = next;
  }
  return hl_i64((int64_t)cur);
}

void hl_main(void) {
  hl_register("sort_hash", sort_hash, "ii");
  hl_register("fib", fib, "i");
}
