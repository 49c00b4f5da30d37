/* hl_abi.h: the contract between the hlrr VMM and a guest. Both sides compile this header
 * (the VMM in C++, the guest runtime in C), so every constant and struct here has one
 * definition. Changing it changes the guest ABI: bump HL_ABI_VERSION.
 *
 * Guest physical memory (identity-mapped, long mode, ring 0):
 *
 *   0x0000_0000  null page              never mapped: a null dereference faults (#PF)
 *   0x0000_1000  PML4, PDPT, 4 x PD, PT  page tables (VMM-owned)
 *   0x0000_8000  GDT (+ TSS descriptor)
 *   0x0000_9000  TSS (IST1 = exception stack)
 *   0x0000_A000  IDT (256 x 16 bytes)
 *   0x0000_B000  exception stubs         each vector: push vector; out HL_PORT_EXCEPTION
 *   0x0000_C000  exception stack (IST1)  so a stack overflow still reports cleanly
 *   0x0001_0000  call area               host -> guest: the guest call to run (hl_message)
 *   0x0001_8000  reply area              host -> guest: a host function's result
 *   0x0002_0000  out area                guest -> host: host call / result / panic / ready
 *   0x0003_0000  stack guard page        never mapped: stack overflow faults (#PF)
 *   0x0003_1000  stack                   grows down from HL_STACK_TOP
 *   0x0010_0000  guest ELF image         (linker script), then the heap up to memory size
 */
#ifndef HLRR_GUEST_HL_ABI_H
#define HLRR_GUEST_HL_ABI_H

#include <stdint.h>

#define HL_ABI_VERSION 1u

#define HL_PAGE_SIZE 0x1000ull
#define HL_PAGE_TABLES_BASE \
  0x1000ull /* PML4 at +0, PDPT at +0x1000, PDs at +0x2000..+0x5fff, PT at +0x6000 */
#define HL_GDT_BASE 0x8000ull
#define HL_TSS_BASE 0x9000ull
#define HL_IDT_BASE 0xA000ull
#define HL_EXCEPTION_STUBS_BASE 0xB000ull
#define HL_EXCEPTION_STUB_SIZE 16ull
#define HL_EXCEPTION_STACK_TOP 0x10000ull
#define HL_CALL_AREA 0x10000ull
#define HL_REPLY_AREA 0x18000ull
#define HL_OUT_AREA 0x20000ull
#define HL_AREA_SIZE 0x8000ull /* call and reply areas; the out area is 2 x this */
#define HL_OUT_AREA_SIZE 0x10000ull
#define HL_STACK_GUARD 0x30000ull
#define HL_STACK_TOP 0x100000ull
#define HL_IMAGE_BASE 0x100000ull
#define HL_MIN_MEMORY 0x200000ull      /* 2 MiB: the fixed areas plus a small image */
#define HL_MAPPED_LIMIT 0x100000000ull /* page tables identity-map the first 4 GiB */

/* Ports. `out` to these is how a guest talks to its host; anything else is an error. */
#define HL_PORT_HOST_CALL 0x6C00u /* a host call is in the out area; result in the reply area */
#define HL_PORT_PANIC 0x6C01u     /* hl_panic: message in the out area */
#define HL_PORT_EXCEPTION 0x6C02u /* exception stub: vector in AL, frame on the IST stack */

/* Typed values, as carried across the boundary. Strings and byte buffers are (guest address,
 * length) pairs: the host checks every one against guest memory before touching it. */
enum hl_type {
  HL_VOID = 0,
  HL_I64 = 1,
  HL_STRING = 2, /* UTF-8, not NUL-terminated on the wire (the runtime adds a NUL for guests) */
  HL_BYTES = 3,
};

typedef struct hl_value {
  uint32_t type; /* enum hl_type */
  uint32_t reserved;
  union {
    int64_t i64;
    struct {
      uint64_t ptr; /* guest address */
      uint64_t len;
    } buf;
  } u;
} hl_value;

#define HL_MAX_ARGS 8u
#define HL_MAX_NAME 64u

enum hl_message_kind {
  HL_MSG_NONE = 0,
  HL_MSG_CALL = 1,   /* a call of function `name` with `argc` args */
  HL_MSG_RESULT = 2, /* args[0] is the result */
  HL_MSG_ERROR = 3,  /* args[0] is an HL_STRING error message */
  HL_MSG_READY = 4,  /* boot finished: args[0].i64 is the dispatcher's address */
  HL_MSG_PANIC = 5,  /* args[0] is an HL_STRING message */
};

/* One message in an area. Payload bytes (copied strings and buffers) follow the struct. */
typedef struct hl_message {
  uint32_t magic; /* HL_MESSAGE_MAGIC */
  uint32_t kind;  /* enum hl_message_kind */
  uint32_t argc;
  uint32_t name_len;
  char name[HL_MAX_NAME];
  hl_value args[HL_MAX_ARGS];
} hl_message;

#define HL_MESSAGE_MAGIC 0x484C4D31u /* "HLM1" */

/* Boot information, written by the VMM into the call area before the guest's first run. */
typedef struct hl_boot_info {
  uint32_t magic; /* HL_BOOT_MAGIC */
  uint32_t abi_version;
  uint64_t memory_size; /* bytes of guest memory; the heap ends here */
} hl_boot_info;

#define HL_BOOT_MAGIC 0x484C4231u /* "HLB1" */

/* The ELF note every SDK guest carries (runtime/features.S, not loaded into guest memory):
 * section .note.hlrr, name "hlrr", type HL_NOTE_FEATURES, a 4-byte descriptor of HL_FEATURE_*
 * bits saying what the guest needs of the vCPU. */
#define HL_NOTE_NAME "hlrr"
#define HL_NOTE_FEATURES 1u
#define HL_FEATURE_SSE 1u /* built with x87/SSE (not -mgeneral-regs-only) */

#endif /* HLRR_GUEST_HL_ABI_H */
