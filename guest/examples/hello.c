/* hello: the smallest useful guest.
 *
 *   hello()     prints "Hello from the hlrr guest!\n" through the host's print; returns 42.
 *   greet(s)    prints "Hello, <s>!\n"; returns the number of bytes printed (9 + strlen(s)).
 *   main()      the same as hello() (hlrun calls "main" when no --call is given).
 */
#include "hlguest.h"

static const char kGreeting[] = "Hello from the hlrr guest!\n";

static hl_value hello(const hl_value* args, uint32_t argc) {
  (void)args;
  (void)argc;
  hl_print(kGreeting);
  return hl_i64(42);
}

static hl_value greet(const hl_value* args, uint32_t argc) {
  (void)argc;
  const char* name = hl_as_str(args[0]);
  /* The line can be as long as the argument (up to the call area's 32 KiB), so it goes on
   * the heap, given back before returning. */
  const uint64_t mark = hl_alloc_mark();
  const uint64_t size = hl_len(args[0]) + sizeof "Hello, !\n";
  char* line = hl_alloc(size);
  if (line == NULL) hl_panic("greet: out of memory");
  const int len = hl_snprintf(line, size, "Hello, %s!\n", name);
  hl_print(line);
  hl_alloc_release(mark);
  return hl_i64(len);
}

void hl_main(void) {
  hl_register("hello", hello, "");
  hl_register("greet", greet, "s");
  hl_register("main", hello, "");
}
