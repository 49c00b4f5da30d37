/* libc/syscall_entry.S: the system-call side of a guest linked with musl (LIBC); the entry
 * points themselves are runtime/entry.S, built with HL_GUEST_LIBC.
 *
 *  hl_libc_enter      called first by _start and hl_dispatch_entry: points the `syscall`
 *                     instruction at hl_syscall_entry (the MSRs below) and restores musl's FS
 *                     base; clobbers RAX, RCX, RDX only;
 *  hl_syscall_entry   where musl's `syscall` instructions land (LSTAR): ring 0 to ring 0, so
 *                     no stack switch and no `sysret` (which returns to ring 3); it calls
 *                     hl_syscall_dispatch(number, args) and returns with `jmp *%rcx`.
 *
 * Both backends execute `syscall` themselves (KVM in hardware, Unicorn as QEMU does), so the
 * VMM needs no exit of its own: every value a system call returns comes from guest code or
 * from a host call, which is recorded like any other. */

#define MSR_EFER 0xC0000080
#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_FMASK 0xC0000084
#define MSR_FS_BASE 0xC0000100
#define KERNEL_CS 0x08 /* vmm/long_mode.h: syscall loads CS = STAR[47:32], SS = CS + 8 */
#define FMASK_BITS 0x40700 /* clear TF, IF, DF, AC on entry, as Linux does */

        .text
/* EFER.SCE on; STAR, LSTAR, FMASK; FS base from hl_libc_fs_base (0 before musl's TLS). */
        .globl  hl_libc_enter
        .type   hl_libc_enter, @function
hl_libc_enter:
        .cfi_startproc
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $1, %eax
        wrmsr
        movl    $MSR_STAR, %ecx
        xorl    %eax, %eax
        movl    $KERNEL_CS, %edx
        wrmsr
        movl    $MSR_LSTAR, %ecx
        leaq    hl_syscall_entry(%rip), %rax
        movq    %rax, %rdx
        shrq    $32, %rdx
        wrmsr
        movl    $MSR_FMASK, %ecx
        movl    $FMASK_BITS, %eax
        xorl    %edx, %edx
        wrmsr
        movq    hl_libc_fs_base(%rip), %rax
        testq   %rax, %rax
        jz      3f
        movl    $MSR_FS_BASE, %ecx
        movq    %rax, %rdx
        shrq    $32, %rdx
        wrmsr
3:
        ret
        .cfi_endproc
        .size   hl_libc_enter, . - hl_libc_enter

        .globl  hl_syscall_entry
        .type   hl_syscall_entry, @function
hl_syscall_entry:
        .cfi_startproc
        .cfi_def_cfa %rsp, 0
        .cfi_register %rip, %rcx
        leaq    -128(%rsp), %rsp        /* musl is built with a red zone: step over it */
        .cfi_adjust_cfa_offset 128
        pushq   %rcx                    /* return RIP */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rip, 0
        pushq   %r11                    /* RFLAGS */
        .cfi_adjust_cfa_offset 8
        pushq   %r9                     /* the arguments, args[0] = rdi lowest */
        .cfi_adjust_cfa_offset 8
        pushq   %r8
        .cfi_adjust_cfa_offset 8
        pushq   %r10
        .cfi_adjust_cfa_offset 8
        pushq   %rdx
        .cfi_adjust_cfa_offset 8
        pushq   %rsi
        .cfi_adjust_cfa_offset 8
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        movq    %rsp, %rbx
        .cfi_def_cfa_register %rbx
        leaq    8(%rsp), %rsi
        movq    %rax, %rdi
        andq    $-16, %rsp
        cld
        call    hl_syscall_dispatch     /* long hl_syscall_dispatch(long nr, const long* args) */
        movq    %rbx, %rsp
        .cfi_def_cfa_register %rsp
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        popq    %rdi                    /* the kernel keeps all but rax, rcx, r11 */
        popq    %rsi
        popq    %rdx
        popq    %r10
        popq    %r8
        popq    %r9
        .cfi_adjust_cfa_offset -48
        popq    %r11
        popq    %rcx
        .cfi_adjust_cfa_offset -16
        .cfi_register %rip, %rcx
        pushq   %r11                    /* still below the red zone */
        popfq
        leaq    128(%rsp), %rsp         /* lea: leaves the flags just restored */
        .cfi_adjust_cfa_offset -128
        jmpq    *%rcx
        .cfi_endproc
        .size   hl_syscall_entry, . - hl_syscall_entry

        .section .note.GNU-stack, "", @progbits
