/* hlguest.h: the hlrr guest SDK.
 *
 * A guest is a freestanding x86-64 program (no OS, no libc) that an hlrr host runs in a
 * micro-VM. The guest defines `hl_main`, registers its functions there by name, and the host
 * then calls them; a guest function may in turn call functions the host registered (`print`,
 * `clock_ns`, ...). Values cross the boundary as `hl_value`s (see hl_abi.h): a 64-bit integer,
 * a string or a byte buffer (a guest address and a length), or nothing.
 *
 * Example (built with `hl_add_guest(adder adder.c)`, see guest/README.md):
 *
 *     #include "hlguest.h"
 *
 *     static hl_value add(const hl_value* args, uint32_t argc) {
 *       (void)argc;  // the runtime has already checked argc and the types against "ii"
 *       int64_t sum = args[0].u.i64 + args[1].u.i64;
 *       hl_printf("add: %ld + %ld = %ld\n", args[0].u.i64, args[1].u.i64, sum);
 *       return hl_i64(sum);
 *     }
 *
 *     void hl_main(void) {
 *       hl_register("add", add, "ii");
 *     }
 *
 * Rules of the road:
 *  - Everything here runs at ring 0 with no OS: a bad pointer faults and ends the call.
 *  - Strings received as arguments are NUL-terminated by the runtime (`u.buf.len` excludes the
 *    NUL); they live in the call area and are only valid until the function returns.
 *  - A string or bytes result may point anywhere in guest memory that stays valid after the
 *    function returns (a global, the heap, a string literal; never a local array).
 *  - Floating point (x87/SSE) is on unless the guest is built GENERAL_REGS_ONLY (README.md).
 */
#ifndef HLRR_GUEST_HLGUEST_H
#define HLRR_GUEST_HLGUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Values ---------------------------------------------------------------------------- */

static inline hl_value hl_void(void) {
  return (hl_value){.type = HL_VOID};
}

static inline hl_value hl_i64(int64_t v) {
  return (hl_value){.type = HL_I64, .u.i64 = v};
}

/* A string of `len` bytes at `s` (need not be NUL-terminated). */
static inline hl_value hl_str_n(const char* s, uint64_t len) {
  return (hl_value){.type = HL_STRING, .u.buf = {.ptr = (uint64_t)(uintptr_t)s, .len = len}};
}

/* A NUL-terminated string (the NUL is not part of the value). */
uint64_t hl_strlen(const char* s);
static inline hl_value hl_str(const char* s) {
  return hl_str_n(s, hl_strlen(s));
}

static inline hl_value hl_bytes(const void* p, uint64_t len) {
  return (hl_value){.type = HL_BYTES, .u.buf = {.ptr = (uint64_t)(uintptr_t)p, .len = len}};
}

/* Accessors for arguments (no checks: the dispatcher has checked the types already). */
static inline int64_t hl_as_i64(hl_value v) {
  return v.u.i64;
}
static inline const char* hl_as_str(hl_value v) {
  return (const char*)(uintptr_t)v.u.buf.ptr;
}
static inline const void* hl_as_ptr(hl_value v) {
  return (const void*)(uintptr_t)v.u.buf.ptr;
}
static inline uint64_t hl_len(hl_value v) {
  return v.u.buf.len;
}

/* ---- Guest functions ------------------------------------------------------------------- */

/* A function the host can call. `args` has exactly as many entries as the registered params
 * string has characters, each of the declared type. */
typedef hl_value (*hl_guest_fn)(const hl_value* args, uint32_t argc);

/* Defined by the guest: called once at boot, before the host takes its snapshot. Register
 * the guest's functions here. */
void hl_main(void);

/* Registers `fn` under `name` (at most HL_MAX_NAME bytes; the string must stay valid, e.g. a
 * literal). `params` has one character per parameter: 'i' int64, 's' string, 'b' bytes; ""
 * or NULL for none; at most HL_MAX_ARGS. Returns 0, or -1 if the name is empty, too long or
 * already registered, the params string is invalid, or the table (HL_MAX_FUNCTIONS) is full. */
#define HL_MAX_FUNCTIONS 64
int hl_register(const char* name, hl_guest_fn fn, const char* params);

/* ---- Host functions -------------------------------------------------------------------- */

/* Calls host function `name` with `argc` (<= HL_MAX_ARGS) arguments and returns its result.
 * String and bytes arguments are passed by reference: the host reads them from guest memory.
 * A string or bytes result points into the reply area and is valid until the next host call.
 * If the host function fails, the host ends the whole guest call: this never returns then. */
hl_value hl_call_host(const char* name, const hl_value* args, uint32_t argc);

/* Calls host function "print" with `s`; returns its i64 result (-1 if it returned another
 * type). */
int64_t hl_print(const char* s);

/* A small printf: %d %i %u %x %X %c %s %p %%, with the length modifiers l, ll, z, an optional
 * '-' or '0' flag and a width. Formats into a 512-byte stack buffer (longer output is
 * truncated) and prints it with hl_print; returns hl_print's result. */
int64_t hl_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats like hl_printf into buf (always NUL-terminated when size > 0). Returns the length
 * the full output would have had (like C's snprintf). */
int hl_snprintf(char* buf, uint64_t size, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hl_vsnprintf(char* buf, uint64_t size, const char* fmt, va_list ap);

/* Ends the current guest call (or the boot) with a panic carrying `msg`. Never returns. */
_Noreturn void hl_panic(const char* msg);

/* ---- Memory ---------------------------------------------------------------------------- */

/* Bump allocator over the heap, which runs from the end of the image (`__heap_start`, page
 * aligned) to the end of guest memory. Returns 16-byte aligned memory, or NULL when the heap
 * is exhausted. The memory is not guaranteed to be zeroed. There is no free: use
 * hl_alloc_mark / hl_alloc_release for scratch memory that one call uses and gives back. */
void* hl_alloc(uint64_t size);
/* The allocator's current position, and a rewind to it: everything allocated after the mark
 * is released at once. */
uint64_t hl_alloc_mark(void);
void hl_alloc_release(uint64_t mark);
/* Bytes left on the heap. */
uint64_t hl_heap_available(void);

/* The C library functions gcc may emit calls to even when freestanding. */
void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* HLRR_GUEST_HLGUEST_H */
