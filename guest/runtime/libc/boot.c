/* libc/boot.c: musl's start-up inside the runtime's boot, the stdout flush after each call,
 * and the SDK's few helpers expressed with the C library. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../hl_internal.h"
#include "libc_internal.h"

/* musl's own start-up, as __libc_start_main runs it (hidden in libc.a, reachable in a static
 * link): environment, auxiliary vector, TLS and thread pointer (arch_prctl, libc/syscall.c). */
void __init_libc(char** envp, char* program_name);

/* An empty environment, then the auxiliary vector: only the page size. */
static char* g_envp[] = {NULL, (char*)6 /* AT_PAGESZ */, (char*)HL_PAGE_SIZE, NULL, NULL};
static char g_program_name[] = "hlguest";

/* Called by hl_runtime_start (runtime.c) before hl_main. */
void hl_heap_init(uint64_t memory_size) {
  hl_libc_memory_init(memory_size);
  __init_libc(g_envp, g_program_name);
}

/* A guest defines hl_main; without one (a configure script's test program) it links and has
 * no functions. */
__attribute__((weak)) void hl_main(void) {}

/* Called by hl_dispatch (runtime.c) when the function returns, before its result is written:
 * what the guest printed without a newline reaches the host within the call. */
void hl_call_finished(void) {
  fflush(NULL);
}

uint64_t hl_strlen(const char* s) {
  return strlen(s);
}

int hl_vsnprintf(char* buf, uint64_t size, const char* fmt, va_list ap) {
  return vsnprintf(buf, size, fmt, ap);
}

int hl_snprintf(char* buf, uint64_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
