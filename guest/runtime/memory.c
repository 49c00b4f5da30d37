/* memory.c: the heap (a bump allocator) and the C memory functions gcc may call. */
#include "hl_internal.h"

/* From the linker script: the first byte after the image (page aligned). */
extern char __heap_start[];

static uint64_t g_heap_next; /* next free byte */
static uint64_t g_heap_end;  /* one past the last heap byte */

void hl_heap_init(uint64_t memory_size) {
  const uint64_t start = (uint64_t)(uintptr_t)__heap_start;
  uint64_t end = memory_size;
  if (end > HL_MAPPED_LIMIT) end = HL_MAPPED_LIMIT;
  if (end < start) end = start; /* no heap at all */
  g_heap_next = start;
  g_heap_end = end;
}

void* hl_alloc(uint64_t size) {
  const uint64_t start = (g_heap_next + 15) & ~(uint64_t)15;
  if (start > g_heap_end || size > g_heap_end - start) return NULL;
  g_heap_next = start + size;
  return (void*)(uintptr_t)start;
}

uint64_t hl_alloc_mark(void) {
  return g_heap_next;
}

void hl_alloc_release(uint64_t mark) {
  if (mark >= (uint64_t)(uintptr_t)__heap_start && mark <= g_heap_next) g_heap_next = mark;
}

uint64_t hl_heap_available(void) {
  const uint64_t start = (g_heap_next + 15) & ~(uint64_t)15;
  return start < g_heap_end ? g_heap_end - start : 0;
}

uint64_t hl_strlen(const char* s) {
  uint64_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

/* These are built with -fno-tree-loop-distribute-patterns (CMakeLists.txt) so that gcc does
 * not turn their loops back into calls to themselves. Word-sized copies when both pointers
 * allow it: guests copy megabytes, and the software vCPU counts every instruction. */
/* A word that may alias anything, for the word-sized loops. */
typedef uint64_t __attribute__((may_alias)) hl_word;

void* memcpy(void* dst, const void* src, size_t n) {
  unsigned char* d = dst;
  const unsigned char* s = src;
  if ((((uintptr_t)d | (uintptr_t)s) & 7) == 0) {
    for (; n >= 8; n -= 8, d += 8, s += 8) *(hl_word*)(void*)d = *(const hl_word*)(const void*)s;
  }
  while (n--) *d++ = *s++;
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  unsigned char* d = dst;
  const unsigned char* s = src;
  if (d == s || n == 0) return dst;
  if (d < s || d >= s + n) return memcpy(dst, src, n);
  while (n--) d[n] = s[n]; /* overlapping, destination above: copy backwards */
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  unsigned char* d = dst;
  if (((uintptr_t)d & 7) == 0) {
    const uint64_t word = 0x0101010101010101ull * (unsigned char)c;
    for (; n >= 8; n -= 8, d += 8) *(hl_word*)(void*)d = word;
  }
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char* x = a;
  const unsigned char* y = b;
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}
