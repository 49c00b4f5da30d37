/* entry.S: the two places where the VMM points RIP, for every guest.
 *
 *  _start             the ELF entry point, run once at boot with RSP = HL_STACK_TOP.
 *  hl_dispatch_entry  every guest call: the VMM sets RIP here and RSP = HL_STACK_TOP, having
 *                     written the call into the call area, and runs until the `hlt`.
 *
 * Both clear RBP and mark RIP undefined in the CFI so that a debugger's backtrace ends here
 * cleanly. Both finish with `hlt`, which is how the guest says "done" to the VMM. Built with
 * HL_GUEST_LIBC (the musl runtime), both first point `syscall` at the runtime's system-call
 * entry (libc/syscall_entry.S), on every call because a vCPU restored from a snapshot or a
 * trace keeps only the register file. */

/* (hl_abi.h is C only: the stubs need none of its constants.) */

        .section .text.hl_entry, "ax", @progbits   /* first in the image (hlguest.ld) */
        .globl  _start
        .type   _start, @function
_start:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        andq    $-16, %rsp              /* RSP = HL_STACK_TOP already; keep the ABI alignment */
        cld
#ifdef HL_GUEST_LIBC
        call    hl_libc_enter           /* syscall MSRs and musl's FS base */
#endif
        call    hl_runtime_start        /* boots, calls hl_main, writes HL_MSG_READY */
1:      hlt                             /* the host snapshots the sandbox here */
        jmp     1b
        .cfi_endproc
        .size   _start, . - _start

        .globl  hl_dispatch_entry
        .type   hl_dispatch_entry, @function
hl_dispatch_entry:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        andq    $-16, %rsp
        cld
#ifdef HL_GUEST_LIBC
        call    hl_libc_enter
#endif
        call    hl_dispatch             /* runs the call, writes HL_MSG_RESULT / HL_MSG_ERROR */
2:      hlt                             /* the host reads the out area here */
        jmp     2b
        .cfi_endproc
        .size   hl_dispatch_entry, . - hl_dispatch_entry

        .section .note.GNU-stack, "", @progbits
