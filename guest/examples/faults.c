/* faults: one guest function per way a guest call can go wrong, for the host's tests.
 *
 * Each is a global function whose symbol has the registered name, so a test can check the
 * faulting RIP against the ELF symbol table. What the host should see:
 *
 *   null_deref()           #PF reading address 0 (page 0 is never mapped): the `mov` load
 *                          through the volatile NULL pointer, inside null_deref.
 *   undefined_instruction()  #UD at the `ud2` inside undefined_instruction.
 *   divide_by_zero(d)      returns 1000 / d; for d = 0, #DE at the `idiv` inside
 *                          divide_by_zero (d = -1 is fine: 1000 / -1 = -1000).
 *   stack_overflow(depth)  recurses without end in stack_overflow_recurse (depth is only the
 *                          counter's starting value, shown by gdb's backtrace), each frame
 *                          holding a 4 KiB volatile array, until a store or push hits the guard
 *                          page [0x30000, 0x31000): #PF there, inside stack_overflow_recurse.
 *                          (The stack is 0x31000..0x100000, so ~200 frames.)
 *   infinite_loop()        never returns (increments a volatile counter): the host's timeout.
 *   wild_pointer()         calls host print with an HL_STRING at 0xdead0000, 16 bytes, far
 *                          outside guest memory: the host rejects it at the `out` in
 *                          hl_call_host; returns print's result if a host lets it through.
 *   general_protection()   #GP reading the non-canonical address 0x8000000000000000: the
 *                          `mov` load inside general_protection.
 *   out_of_bounds()        reads 0x80000000: mapped by the identity page tables but beyond
 *                          guest memory (an access outside guest memory), at the `mov` load
 *                          inside out_of_bounds.
 *   panic()                hl_panic("something went wrong").
 *   still_alive()          returns 1: for checking that a sandbox still works after a fault.
 */
#include "hlguest.h"

hl_value null_deref(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  volatile int64_t* volatile p = NULL; /* volatile: the compiler can't see it is NULL */
  return hl_i64(*p);                   /* faults: the load through p */
}

hl_value undefined_instruction(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  __asm__ volatile("ud2"); /* faults: #UD */
  return hl_i64(0);
}

hl_value divide_by_zero(const hl_value* args, uint32_t argc) {
  (void)argc;
  volatile int64_t numerator = 1000;
  volatile int64_t divisor = hl_as_i64(args[0]);
  return hl_i64(numerator / divisor); /* faults for 0: the idiv */
}

/* The unbounded recursion is the point: */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
int64_t stack_overflow_recurse(int64_t depth) {
  volatile uint8_t frame[4096];
  /* Touch both ends of the frame so that no frame can step over the 4 KiB guard page. */
  frame[sizeof frame - 1] = (uint8_t)depth;
  frame[0] = (uint8_t)depth;
  /* Using the result after the call keeps this from becoming a loop (no tail call). */
  return stack_overflow_recurse(depth + 1) + frame[0];
}
#pragma GCC diagnostic pop

hl_value stack_overflow(const hl_value* args, uint32_t argc) {
  (void)argc;
  return hl_i64(stack_overflow_recurse(hl_as_i64(args[0])));
}

hl_value infinite_loop(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  volatile uint64_t counter = 0;
  for (;;) counter++;
}

hl_value wild_pointer(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  const hl_value wild = {.type = HL_STRING, .u.buf = {.ptr = 0xdead0000, .len = 16}};
  return hl_call_host("print", &wild, 1); /* the host must refuse this pointer */
}

hl_value general_protection(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  volatile uint64_t* volatile p = (volatile uint64_t*)0x8000000000000000ull;
  return hl_i64((int64_t)*p); /* faults: the load (non-canonical address, #GP) */
}

hl_value out_of_bounds(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  volatile uint64_t* volatile p = (volatile uint64_t*)0x80000000ull;
  return hl_i64((int64_t)*p); /* faults: the load (2 GiB, beyond guest memory) */
}

hl_value panic(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  hl_panic("something went wrong");
}

/* Not in the header above, so that the lines the debugger tests name stay put:
 *   written_code(k)  copies a tiny function into g_code (data: the loader's code scan never
 *                    sees it) and calls it: k = 0 `rdtsc; ret`, 1 `nop; nop; rdrand rax; ret`,
 *                    2 `hlt; ret`, 3 `syscall; ret`. The software vCPU stops before the
 *                    rdtsc/rdrand/hlt/syscall
 *                    (unsupported instruction: in code the loader did not scan) rather than run
 *                    it unrecorded; KVM runs them natively.
 *   wild_jump()      calls the non-canonical address 0x8000000000000000: #GP there. */
static uint8_t g_code[16] __attribute__((aligned(16)));

hl_value written_code(const hl_value* args, uint32_t argc) {
  (void)argc;
  static const uint8_t kCode[4][8] = {
      {0x0f, 0x31, 0xc3},                         /* rdtsc; ret */
      {0x90, 0x90, 0x48, 0x0f, 0xc7, 0xf0, 0xc3}, /* nop; nop; rdrand rax; ret */
      {0xf4, 0xc3},                               /* hlt; ret */
      {0x0f, 0x05, 0xc3},                         /* syscall; ret */
  };
  const int64_t k = hl_as_i64(args[0]);
  if (k < 0 || k > 3) hl_panic("written_code: k must be 0, 1, 2 or 3");
  volatile uint8_t* out = g_code;
  for (unsigned i = 0; i < sizeof kCode[0]; ++i) out[i] = kCode[k][i];
  int64_t (*fn)(void) = (int64_t(*)(void))(uintptr_t)g_code;
  return hl_i64(fn());
}

hl_value wild_jump(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  int64_t (*volatile fn)(void) = (int64_t(*)(void))0x8000000000000000ull;
  return hl_i64(fn()); /* faults: the fetch (non-canonical, #GP) */
}

hl_value still_alive(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  return hl_i64(1);
}

/* deep_fault(n): sets g_deep_marker = n, then #PF reading address 0 two calls deep
 * (deep_fault -> deep_outer -> deep_inner), for backtraces from cores. Kept after the other
 * functions: tests name their lines. */
int64_t g_deep_marker;

__attribute__((noinline)) int64_t deep_inner(volatile int64_t* p) {
  return *p + 1; /* DEEP_INNER: faults, the load through p */
}

__attribute__((noinline)) int64_t deep_outer(int64_t n) {
  volatile int64_t* volatile p = NULL;
  return deep_inner(p) + n; /* DEEP_OUTER */
}

hl_value deep_fault(const hl_value* args, uint32_t argc) {
  (void)argc;
  g_deep_marker = hl_as_i64(args[0]);
  return hl_i64(deep_outer(g_deep_marker) * 2); /* DEEP_FAULT */
}

void hl_main(void) {
  hl_register("null_deref", null_deref, "");
  hl_register("undefined_instruction", undefined_instruction, "");
  hl_register("divide_by_zero", divide_by_zero, "i");
  hl_register("stack_overflow", stack_overflow, "i");
  hl_register("infinite_loop", infinite_loop, "");
  hl_register("wild_pointer", wild_pointer, "");
  hl_register("general_protection", general_protection, "");
  hl_register("out_of_bounds", out_of_bounds, "");
  hl_register("panic", panic, "");
  hl_register("still_alive", still_alive, "");
  hl_register("written_code", written_code, "i");
  hl_register("wild_jump", wild_jump, "");
  hl_register("deep_fault", deep_fault, "i");
}
