/* fpu: x87 code for the debugger tests (what gdb shows in st0..st7, fstat, ftag, fop, fioff...).
 *
 *   x87_stack()  fninit; fld1; fldpi; fldz, then (at x87_loaded) drops the 0, stores pi to
 *                g_out with `fstpl g_out(%rip)` (at x87_store; x87_stored is after it) and drops
 *                the 1. Returns the bits of g_out: pi as a double, 0x400921fb54442d18
 *                (4614256656552045848).
 *
 * Guests are built with -mgeneral-regs-only, so the x87 code is inline assembly. The labels are
 * local symbols of the ELF, for the tests to break on and to know the instructions' addresses.
 */
#include "hlguest.h"

volatile uint64_t g_out;

static hl_value x87_stack(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  __asm__ volatile(
      "fninit\n\t"
      "fld1\n\t"
      "fldpi\n"
      "x87_fldz:\n\t"
      "fldz\n"
      "x87_loaded:\n\t"
      "fstp %%st(0)\n"
      "x87_store:\n\t"
      "fstpl g_out(%%rip)\n"
      "x87_stored:\n\t"
      "fstp %%st(0)\n" ::
          : "memory");
  return hl_i64((int64_t)g_out);
}

void hl_main(void) {
  hl_register("x87_stack", x87_stack, "");
}
