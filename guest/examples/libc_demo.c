/* libc_demo: a guest written against musl, the C library of LIBC guests (README.md). Each
 * function exercises one part of the library; the tests compare with the host's own libc. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hlguest.h"

uint64_t hl_libc_pages_in_use(void);

static char g_text[256];

/* format(n): snprintf's integer, float and string conversions. */
static hl_value format(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int64_t n = args[0].u.i64;
  snprintf(g_text, sizeof g_text, "%ld|%08.3f|%x|%-5s|%e|%g", n, (double)n / 7.0, (unsigned)n, "ab",
           (double)n * 1e10, sqrt((double)n));
  return hl_str(g_text);
}

/* say(s): printf to stdout and stderr, both the host's print; returns printf's count. */
static hl_value say(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int n = printf("Hello, %s!\n", hl_as_str(args[0]));
  fprintf(stderr, "(stderr %d)", n); /* no newline: flushed when the call returns */
  return hl_i64(n);
}

/* heap_churn(rounds, size): malloc, fill, free `rounds` times; returns the pages in use after. A
 * heap that never gives memory back runs out after a few rounds of a large size. */
static hl_value heap_churn(const hl_value* args, uint32_t argc) {
  (void)argc;
  for (int64_t i = 0; i < args[0].u.i64; ++i) {
    char* p = malloc((size_t)args[1].u.i64);
    if (p == NULL) return hl_i64(-1 - i);
    memset(p, (int)i, (size_t)args[1].u.i64);
    char* q = realloc(p, (size_t)args[1].u.i64 * 2);
    if (q == NULL) return hl_i64(-1 - i);
    free(q);
  }
  return hl_i64((int64_t)hl_libc_pages_in_use());
}

static int compare_longs(const void* a, const void* b) {
  const long x = *(const long*)a, y = *(const long*)b;
  return (x > y) - (x < y);
}

/* sort_numbers(text): strtol over a space-separated list, qsort, the sorted list back. */
static hl_value sort_numbers(const hl_value* args, uint32_t argc) {
  (void)argc;
  long values[32];
  int n = 0;
  const char* p = hl_as_str(args[0]);
  char* end;
  for (long v = strtol(p, &end, 0); end != p && n < 32; v = strtol(p, &end, 0)) {
    values[n++] = v;
    p = end;
  }
  qsort(values, (size_t)n, sizeof values[0], compare_longs);
  size_t used = 0;
  g_text[0] = '\0';
  for (int i = 0; i < n && used < sizeof g_text; ++i) {
    used += (size_t)snprintf(g_text + used, sizeof g_text - used, i ? " %ld" : "%ld", values[i]);
  }
  return hl_str(g_text);
}

/* libm(x): micro-units of a few libm functions of x / 1000. */
static hl_value libm(const hl_value* args, uint32_t argc) {
  (void)argc;
  const double x = (double)args[0].u.i64 / 1000.0;
  return hl_i64((int64_t)llround(1e6 * (sin(x) + exp(x / 10.0) + log1p(fabs(x)) + atan2(x, 3.0))));
}

/* Time and randomness: from the host, recorded. */
static hl_value realtime_s(const hl_value* args, uint32_t argc) {
  (void)args, (void)argc;
  return hl_i64((int64_t)time(NULL));
}

static hl_value monotonic_ns(const hl_value* args, uint32_t argc) {
  (void)args, (void)argc;
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return hl_i64(-errno);
  return hl_i64((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static hl_value random_u63(const hl_value* args, uint32_t argc) {
  (void)args, (void)argc;
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) return hl_i64(-errno);
  return hl_i64((int64_t)(v >> 1));
}

/* raw_syscall(n): the raw result of system call n with zero arguments (-ENOSYS for most). */
static hl_value raw_syscall(const hl_value* args, uint32_t argc) {
  (void)argc;
  const long r = syscall(args[0].u.i64, 0, 0, 0, 0, 0, 0);
  return hl_i64(r == -1 ? -errno : r);
}

/* open_file(path): fopen's errno (a guest has no files). */
static hl_value open_file(const hl_value* args, uint32_t argc) {
  (void)argc;
  FILE* f = fopen(hl_as_str(args[0]), "r");
  if (f == NULL) return hl_i64(errno);
  fclose(f);
  return hl_i64(0);
}

static hl_value call_exit(const hl_value* args, uint32_t argc) {
  (void)argc;
  exit((int)args[0].u.i64);
}

static hl_value call_abort(const hl_value* args, uint32_t argc) {
  (void)args, (void)argc;
  abort();
}

static jmp_buf g_jump;
static volatile int g_jump_value = 7;
static int jump_back(int depth) {
  if (depth > 0) return jump_back(depth - 1) + 1;
  if (g_jump_value != 0) longjmp(g_jump, g_jump_value);
  return 0;
}

/* jump(depth): longjmp out of `depth` frames; returns setjmp's second value. */
static hl_value jump(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int got = setjmp(g_jump);
  if (got) return hl_i64(got);
  return hl_i64(-jump_back((int)args[0].u.i64));
}

void hl_main(void) {
  hl_register("format", format, "i");
  hl_register("say", say, "s");
  hl_register("heap_churn", heap_churn, "ii");
  hl_register("sort_numbers", sort_numbers, "s");
  hl_register("libm", libm, "i");
  hl_register("realtime_s", realtime_s, "");
  hl_register("monotonic_ns", monotonic_ns, "");
  hl_register("random_u63", random_u63, "");
  hl_register("raw_syscall", raw_syscall, "i");
  hl_register("open_file", open_file, "s");
  hl_register("call_exit", call_exit, "i");
  hl_register("call_abort", call_abort, "");
  hl_register("jump", jump, "i");
}
