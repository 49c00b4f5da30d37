/* features.S: the guest's .note.hlrr, which tells the VMM what the guest needs of the vCPU.
 *
 * hl_add_guest and hlguest-cc compile this file with the guest's own flags, so the note says
 * how the guest was built: with x87/SSE (the default) or -mgeneral-regs-only (the opt-out for
 * KVMs that cannot execute SSE, shared/VCPU-FACTS.md). The VMM's ELF loader reads it
 * (vmm/elf_note.h) and `--vcpu auto` picks a backend that can run the guest. The section is
 * not allocated: it is in the file, never in guest memory. Layout and values: hl_abi.h. */

        .section .note.hlrr, "", @note
        .balign 4
        .long   5                       /* namesz: "hlrr\0" */
        .long   4                       /* descsz */
        .long   1                       /* HL_NOTE_FEATURES */
        .asciz  "hlrr"
        .balign 4
#ifdef __SSE__
        .long   1                       /* HL_FEATURE_SSE: x87/SSE code (GCC drops __SSE__ */
#else                                   /* under -mgeneral-regs-only) */
        .long   0
#endif
        .balign 4

        .section .note.GNU-stack, "", @progbits
