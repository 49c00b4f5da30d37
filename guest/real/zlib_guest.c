/* zlib_guest.c: zlib (Debian's zlib source package, scripts/fetch-guest-sources.sh) as a guest.
 *
 *   deflate_roundtrip(bytes, level) -> string "SIZE CRC"   compresses with compress2(level),
 *       uncompresses, checks the round trip (a panic if it differs); SIZE is the compressed
 *       size and CRC the crc32 of the compressed bytes, in hex
 *   deflate_pattern(mib, level) -> string "SIZE CRC"   the same over `mib` MiB of generated
 *       text (bench/, the 16 MiB run), so that no input crosses the call area */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlguest.h"
#include "zlib.h"

static char g_result[64];

static hl_value roundtrip(const unsigned char* in, uLong len, int level) {
  uLongf packed_len = compressBound(len);
  unsigned char* packed = malloc(packed_len);
  unsigned char* back = malloc(len ? len : 1);
  if (packed == NULL || back == NULL) hl_panic("zlib: out of memory");
  if (compress2(packed, &packed_len, in, len, level) != Z_OK) hl_panic("zlib: compress2 failed");
  uLongf back_len = len;
  if (uncompress(back, &back_len, packed, packed_len) != Z_OK) hl_panic("zlib: uncompress failed");
  if (back_len != len || memcmp(back, in, len) != 0) hl_panic("zlib: round trip differs");
  const uLong crc = crc32(crc32(0, Z_NULL, 0), packed, (uInt)packed_len);
  snprintf(g_result, sizeof g_result, "%lu %08lx", (unsigned long)packed_len, (unsigned long)crc);
  free(packed);
  free(back);
  return hl_str(g_result);
}

static hl_value deflate_roundtrip(const hl_value* args, uint32_t argc) {
  (void)argc;
  return roundtrip(hl_as_ptr(args[0]), (uLong)hl_len(args[0]), (int)hl_as_i64(args[1]));
}

/* Lines of "line N: " + a word cycle: compressible, not trivially so. Same generator in the
 * tests (tests/integration/real_guests_test.cc). */
static hl_value deflate_pattern(const hl_value* args, uint32_t argc) {
  (void)argc;
  static const char* const words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
  const uLong len = (uLong)hl_as_i64(args[0]) << 20;
  unsigned char* text = malloc(len ? len : 1);
  if (text == NULL) hl_panic("zlib: out of memory");
  uLong used = 0;
  for (unsigned long i = 0; used < len; ++i) {
    char line[64];
    const int n =
        snprintf(line, sizeof line, "line %lu: %s %s\n", i, words[i % 6], words[(i / 7) % 6]);
    const uLong take = len - used < (uLong)n ? len - used : (uLong)n;
    memcpy(text + used, line, take);
    used += take;
  }
  const hl_value r = roundtrip(text, len, (int)hl_as_i64(args[1]));
  free(text);
  return r;
}

void hl_main(void) {
  hl_register("deflate_roundtrip", deflate_roundtrip, "bi");
  hl_register("deflate_pattern", deflate_pattern, "ii");
}
