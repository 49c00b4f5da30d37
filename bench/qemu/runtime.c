/* The hlguest API for the QEMU side of bench/run: the same guest sources (compute.c, chatty.c)
 * run as a multiboot kernel. The kernel command line names one call, "fn arg..." (integers);
 * its result goes to the debug console (port 0xe9) as "result: <i64>", then the isa-debug-exit
 * device ends QEMU. clock_ns reads the CMOS clock, which QEMU's record/replay logs as a
 * host-clock event, the analogue of hlrr's recorded host call. */
#include "hl_internal.h"

static struct {
  const char* name;
  hl_guest_fn fn;
} g_functions[HL_MAX_FUNCTIONS];
static int g_count;

static int equal(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

static uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %%dx, %%al" : "=a"(v) : "d"(port));
  return v;
}

static void write_console(const char* s) {
  while (*s) hl_outb(0xe9, (uint8_t)*s++);
}

static _Noreturn void quit(uint8_t code) {
  __asm__ volatile("outb %%al, %%dx" : : "a"(code), "d"(0xf4));
  for (;;) hl_hlt();
}

int hl_register(const char* name, hl_guest_fn fn, const char* params) {
  (void)params;
  if (g_count == HL_MAX_FUNCTIONS) return -1;
  g_functions[g_count].name = name;
  g_functions[g_count++].fn = fn;
  return 0;
}

static uint8_t cmos(uint8_t reg) {
  hl_outb(0x70, reg);
  return inb(0x71);
}

static int64_t clock_ns(void) {
  const int64_t s = cmos(0), m = cmos(2), h = cmos(4), d = cmos(7);
  const int64_t bcd[] = {s, m, h, d};
  int64_t v[4];
  for (int i = 0; i < 4; ++i) v[i] = (bcd[i] >> 4) * 10 + (bcd[i] & 15);
  return (((v[3] * 24 + v[2]) * 60 + v[1]) * 60 + v[0]) * 1000000000;
}

hl_value hl_call_host(const char* name, const hl_value* args, uint32_t argc) {
  if (equal(name, "clock_ns")) return hl_i64(clock_ns());
  if (equal(name, "print") && argc == 1) return hl_i64(hl_print(hl_as_str(args[0])));
  hl_panic("unknown host function");
}

int64_t hl_print(const char* s) {
  write_console(s);
  return (int64_t)hl_strlen(s);
}

_Noreturn void hl_panic(const char* msg) {
  write_console("panic: ");
  write_console(msg);
  write_console("\n");
  quit(1);
}

static int64_t parse_i64(const char** p) {
  int64_t v = 0, sign = 1;
  while (**p == ' ') ++*p;
  if (**p == '-') sign = -1, ++*p;
  while (**p >= '0' && **p <= '9') v = v * 10 + (*(*p)++ - '0');
  return sign * v;
}

/* mbi: the multiboot information (flags bit 2: cmdline; bit 0: mem_upper in KiB). */
void qemu_main(uint32_t mbi) {
  const uint32_t* info = (const uint32_t*)(uintptr_t)mbi;
  hl_heap_init(info[0] & 1 ? ((uint64_t)info[2] + 1024) * 1024 : 16 << 20);
  hl_main();
  char name[64] = {0};
  const char* p = info[0] & 4 ? (const char*)(uintptr_t)info[4] : "";
  while (*p && *p != ' ') ++p; /* QEMU passes the kernel's file name first */
  while (*p == ' ') ++p;
  for (int i = 0; *p && *p != ' ' && i < 63; ++i) name[i] = *p++;
  hl_value args[HL_MAX_ARGS];
  uint32_t argc = 0;
  while (*p && argc < HL_MAX_ARGS) {
    args[argc++] = hl_i64(parse_i64(&p));
    while (*p == ' ') ++p;
  }
  for (int i = 0; i < g_count; ++i) {
    if (equal(g_functions[i].name, name)) {
      hl_printf("result: %ld\n", hl_as_i64(g_functions[i].fn(args, argc)));
      quit(0);
    }
  }
  hl_panic("no such function");
}
