/* libc/libc_internal.h: what the musl flavour of the runtime shares between its files. */
#ifndef HLRR_GUEST_LIBC_INTERNAL_H
#define HLRR_GUEST_LIBC_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

void hl_libc_memory_init(uint64_t memory_size);
long hl_syscall_dispatch(long nr, const long* args);

#endif /* HLRR_GUEST_LIBC_INTERNAL_H */
