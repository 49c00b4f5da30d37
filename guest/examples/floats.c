/* floats: floating point in plain C, built with the SDK's default flags (x87/SSE on).
 *
 * harmonic(n) -> i64: H(n) = 1/1 + 1/2 + ... + 1/n summed in double precision from k = 1
 *   upwards, times 10^6, truncated toward zero; n <= 0 gives 0. harmonic(10) = 2928968
 *   (H(10) = 2.9289682539...). The compiler turns the loop into SSE2 scalar arithmetic
 *   (cvtsi2sd, divsd, addsd, mulsd, cvttsd2si), so this guest needs a vCPU that executes SSE.
 */
#include "hlguest.h"

static hl_value harmonic(const hl_value* args, uint32_t argc) {
  (void)argc;
  const int64_t n = hl_as_i64(args[0]);
  double sum = 0.0;
  for (int64_t k = 1; k <= n; ++k) sum += 1.0 / (double)k;
  return hl_i64((int64_t)(sum * 1e6));
}

void hl_main(void) {
  hl_register("harmonic", harmonic, "i");
}
