/* hl_internal.h: what the runtime's files share; not part of the SDK. */
#ifndef HLRR_GUEST_HL_INTERNAL_H
#define HLRR_GUEST_HL_INTERNAL_H

#include "hlguest.h"

/* The fixed areas of hl_abi.h, as the runtime sees them. */
#define HL_CALL_MSG ((volatile hl_message*)(uintptr_t)HL_CALL_AREA)
#define HL_REPLY_MSG ((volatile hl_message*)(uintptr_t)HL_REPLY_AREA)
#define HL_OUT_MSG ((volatile hl_message*)(uintptr_t)HL_OUT_AREA)

/* `out` of one byte to `port`: the only way the guest exits to the host besides `hlt` and
 * faults. A plain `out %al, (%dx)`; the "memory" clobber orders every store before it (the
 * host reads the out area) and every load after it (the host has written the reply area). */
static inline __attribute__((always_inline)) void hl_outb(uint16_t port, uint8_t value) {
  __asm__ volatile("outb %%al, %%dx" : : "a"(value), "d"(port) : "memory");
}

static inline __attribute__((always_inline)) void hl_hlt(void) {
  __asm__ volatile("hlt" : : : "memory");
}

/* Writes a message with one value into the out area (the name is left empty). */
void hl_write_out(uint32_t kind, hl_value value);

/* Boot: alloc.c */
void hl_heap_init(uint64_t memory_size);

/* Defined by the libc flavour only (libc/boot.c): runs after a guest function returns. */
void hl_call_finished(void) __attribute__((weak));

/* Called from entry.S. */
void hl_runtime_start(void);
void hl_dispatch(void);
void hl_dispatch_entry(void);

#endif /* HLRR_GUEST_HL_INTERNAL_H */
