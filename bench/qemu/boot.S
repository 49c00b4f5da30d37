/* Multiboot entry for the QEMU side of bench/run: QEMU's -kernel loads this flat image (the
 * a.out kludge: QEMU refuses 64-bit ELF multiboot kernels) at 1 MiB in 32-bit protected mode;
 * this maps the first 1 GiB with 2 MiB pages, enters long mode and calls qemu_main(mbi). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010002 /* memory info, load addresses below */

  .section .multiboot, "a"
  .align 4
mb_header:
  .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
  .long mb_header, __load_start, __load_end, __bss_end, start32

  .section .text
  .code32
  .globl start32
start32:
  mov %ebx, mbi_ptr
  /* pd: 512 x 2 MiB identity pages; pdpt[0] -> pd; pml4[0] -> pdpt. */
  mov $pd, %edi
  xor %ecx, %ecx
1:
  mov %ecx, %eax
  shl $21, %eax
  or $0x83, %eax
  mov %eax, (%edi,%ecx,8)
  movl $0, 4(%edi,%ecx,8)
  inc %ecx
  cmp $512, %ecx
  jne 1b
  movl $pd + 3, pdpt
  movl $pdpt + 3, pml4
  mov $pml4, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $0x20, %eax /* PAE */
  mov %eax, %cr4
  mov $0xC0000080, %ecx /* EFER.LME */
  rdmsr
  or $0x100, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80000001, %eax /* PG | PE */
  mov %eax, %cr0
  lgdt gdt_ptr
  ljmp $8, $start64

  .code64
start64:
  mov $16, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $stack_top, %rsp
  mov mbi_ptr, %edi
  call qemu_main
2:
  hlt
  jmp 2b

  .section .data
  .align 16
gdt:
  .quad 0
  .quad 0x00209A0000000000 /* 64-bit code */
  .quad 0x0000920000000000 /* data */
gdt_ptr:
  .word gdt_ptr - gdt - 1
  .long gdt
mbi_ptr:
  .long 0

  .section .bss
  .align 4096
pml4: .space 4096
pdpt: .space 4096
pd: .space 4096
  .space 65536
stack_top:

  .section .note.GNU-stack, "", @progbits
