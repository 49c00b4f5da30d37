/* libc/syscall.c: the system calls musl makes, served inside the guest (memory, the thread
 * pointer) or by host calls (output, time, randomness), so that every value that can differ
 * from one run to the next enters through the host and is recorded. Everything else fails
 * with ENOSYS. Reached from hl_syscall_entry (libc/syscall_entry.S). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "../hl_internal.h"
#include "libc_internal.h"

uint64_t hl_libc_fs_base; /* musl's thread pointer; restored per call (syscall_entry.S) */

/* ---- Pages: brk grows up from __heap_start, mmap takes free pages from the top down --------- */

extern char __heap_start[];
#define PAGES_MAX (HL_MAPPED_LIMIT / HL_PAGE_SIZE)
static uint64_t g_used[PAGES_MAX / 64]; /* one bit a page of guest memory, 1 = in use */
static uint64_t g_first_page, g_end_page, g_brk;

static int page_used(uint64_t p) {
  return (int)((g_used[p / 64] >> (p % 64)) & 1);
}
static void mark(uint64_t first, uint64_t count, int used) {
  for (uint64_t p = first; p < first + count; ++p) {
    if (used)
      g_used[p / 64] |= 1ull << (p % 64);
    else
      g_used[p / 64] &= ~(1ull << (p % 64));
  }
}

void hl_libc_memory_init(uint64_t memory_size) {
  g_first_page = ((uint64_t)(uintptr_t)__heap_start + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE;
  g_end_page = memory_size / HL_PAGE_SIZE;
  if (g_end_page > PAGES_MAX) g_end_page = PAGES_MAX;
  g_brk = g_first_page * HL_PAGE_SIZE;
}

uint64_t hl_libc_pages_in_use(void) {
  uint64_t n = 0;
  for (uint64_t p = g_first_page; p < g_end_page; ++p) n += (uint64_t)page_used(p);
  return n;
}

static long sys_brk(uint64_t want) {
  const uint64_t have_end = (g_brk + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE;
  const uint64_t want_end = (want + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE;
  if (want < g_first_page * HL_PAGE_SIZE || want_end > g_end_page) return (long)g_brk;
  if (want_end > have_end) {
    for (uint64_t p = have_end; p < want_end; ++p) {
      if (page_used(p)) return (long)g_brk; /* would run into an mmap */
    }
    mark(have_end, want_end - have_end, 1);
    memset((void*)(uintptr_t)(have_end * HL_PAGE_SIZE), 0, (want_end - have_end) * HL_PAGE_SIZE);
  } else {
    mark(want_end, have_end - want_end, 0);
  }
  g_brk = want;
  return (long)g_brk;
}

static long sys_mmap(uint64_t addr, uint64_t len, long flags, long fd) {
  (void)addr;
  if (!(flags & MAP_ANONYMOUS) || fd != -1) return -ENOSYS; /* no files here */
  if (flags & MAP_FIXED) return -EINVAL;
  if (len == 0) return -EINVAL;
  const uint64_t count = (len + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE;
  uint64_t run = 0;
  for (uint64_t p = g_end_page; p > g_first_page; --p) { /* first fit from the top */
    if (p - 1 < (g_brk + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE) break;
    run = page_used(p - 1) ? 0 : run + 1;
    if (run == count) {
      mark(p - 1, count, 1);
      void* mem = (void*)(uintptr_t)((p - 1) * HL_PAGE_SIZE);
      memset(mem, 0, count * HL_PAGE_SIZE); /* anonymous memory reads as zero */
      return (long)(uintptr_t)mem;
    }
  }
  return -ENOMEM;
}

static long sys_munmap(uint64_t addr, uint64_t len) {
  if (addr % HL_PAGE_SIZE != 0 || len == 0) return -EINVAL;
  const uint64_t first = addr / HL_PAGE_SIZE;
  const uint64_t end = (addr + len + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE;
  if (first < g_first_page || end > g_end_page) return -EINVAL;
  mark(first, end - first, 0); /* given back: the next mmap may take these pages */
  return 0;
}

/* ---- Host calls ------------------------------------------------------------------------------ */

static long write_out(int fd, const char* p, uint64_t len) {
  if (fd != 1 && fd != 2) return -EBADF;
  if (len == 0) return 0;
  const hl_value arg = hl_str_n(p, len);
  hl_call_host("print", &arg, 1);
  return (long)len;
}

static long sys_writev(int fd, const struct iovec* iov, int count) {
  long total = 0;
  for (int i = 0; i < count; ++i) {
    const long n = write_out(fd, iov[i].iov_base, iov[i].iov_len);
    if (n < 0) return n;
    total += n;
  }
  return total;
}

static int64_t host_i64(const char* name) {
  const hl_value v = hl_call_host(name, NULL, 0);
  if (v.type != HL_I64) hl_panic("libc: a host clock returned a non-integer");
  return v.u.i64;
}

static long sys_clock_gettime(long clock, struct timespec* ts) {
  int64_t ns;
  switch (clock) {
    case CLOCK_REALTIME:
      ns = host_i64("realtime_ns");
      break;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_BOOTTIME:
      ns = host_i64("clock_ns");
      break;
    default:
      return -EINVAL;
  }
  ts->tv_sec = ns / 1000000000;
  ts->tv_nsec = ns % 1000000000;
  return 0;
}

static long sys_getrandom(char* buf, uint64_t len) {
  uint64_t done = 0;
  while (done < len) {
    const uint64_t chunk = len - done < 4096 ? len - done : 4096;
    const hl_value arg = hl_i64((int64_t)chunk);
    const hl_value v = hl_call_host("random_bytes", &arg, 1);
    if (v.type != HL_BYTES || v.u.buf.len != chunk) hl_panic("libc: random_bytes: bad reply");
    memcpy(buf + done, (const void*)(uintptr_t)v.u.buf.ptr, chunk);
    done += chunk;
  }
  return (long)len;
}

/* ---- The rest ------------------------------------------------------------------------------- */

static char g_end_message[64];

static _Noreturn void end_call(const char* what, long code) {
  snprintf(g_end_message, sizeof g_end_message, "%s(%ld)", what, code);
  hl_panic(g_end_message);
}

static long sys_arch_prctl(long code, uint64_t addr) {
  if (code != 0x1002 /* ARCH_SET_FS */) return -EINVAL;
  hl_libc_fs_base = addr;
  __asm__ volatile("wrmsr" : : "c"(0xC0000100u), "a"((uint32_t)addr), "d"((uint32_t)(addr >> 32)));
  return 0;
}

long hl_syscall_dispatch(long nr, const long* a) {
  switch (nr) {
    case SYS_write:
      return write_out((int)a[0], (const char*)a[1], (uint64_t)a[2]);
    case SYS_writev:
      return sys_writev((int)a[0], (const struct iovec*)a[1], (int)a[2]);
    case SYS_ioctl: /* stdout/stderr answer TIOCGWINSZ like a terminal: line buffered */
      if ((a[0] == 1 || a[0] == 2) && a[1] == TIOCGWINSZ) {
        memset((void*)a[2], 0, sizeof(struct winsize));
        return 0;
      }
      return -ENOSYS;
    case SYS_brk:
      return sys_brk((uint64_t)a[0]);
    case SYS_mmap:
      return sys_mmap((uint64_t)a[0], (uint64_t)a[1], a[3], a[4]);
    case SYS_munmap:
      return sys_munmap((uint64_t)a[0], (uint64_t)a[1]);
    case SYS_madvise:
      return 0; /* advice only */
    case SYS_clock_gettime:
      return sys_clock_gettime(a[0], (struct timespec*)a[1]);
    case SYS_getrandom:
      return sys_getrandom((char*)a[0], (uint64_t)a[1]);
    case SYS_arch_prctl:
      return sys_arch_prctl(a[0], (uint64_t)a[1]);
    case SYS_set_tid_address:
    case SYS_gettid:
    case SYS_getpid:
      return 1;
    case SYS_exit:
    case SYS_exit_group:
      end_call("exit", a[0]);
    case SYS_tkill:
    case SYS_tgkill:
    case SYS_kill: /* raise(): abort() and friends */
      end_call(a[nr == SYS_tgkill ? 2 : 1] == SIGABRT ? "abort: signal" : "signal",
               a[nr == SYS_tgkill ? 2 : 1]);
    default:
      return -ENOSYS;
  }
}
