// Code scan: finds, with a real disassembler (Capstone, linear sweep of the executable
// segments), the instructions a backend must treat specially:
//  - port I/O (`in`/`out`): the software vCPU stops *before* each one (a code hook on its exact
//    address) and performs it itself, because Unicorn 2.0.1 can't stop precisely after an I/O
//    instruction hook (it runs on to the end of the translation block; see VCPU-FACTS.md);
//  - `hlt`: likewise stopped before, so a halt is told apart from a stop exactly;
//  - `cpuid`: a KVM that refuses KVM_SET_CPUID2 answers it through hardware breakpoints;
//  - non-deterministic instructions (rdtsc, rdtscp, rdrand, rdseed): the recorder supplies and
//    records their results on the software vCPU and warns about them on KVM;
//  - `syscall` (musl guests, guest/runtime/libc): Unicorn 2.0.1 skips the instruction instead of
//    entering LSTAR, so the software vCPU stops before it and performs it as the CPU does.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hlrr::vmm {

enum class SiteKind : uint8_t {
  kOut,
  kIn,
  kStringIo,
  kHlt,
  // Not stopped at by the software vCPU:
  kRdtsc,
  kRdtscp,
  kRdrand,
  kRdseed,
  kCpuid,
  kSyscall,  // stopped at and performed by the software vCPU; KVM runs it natively
};

const char* to_string(SiteKind kind);

struct InstructionSite {
  uint64_t address = 0;
  uint8_t length = 0;
  SiteKind kind = SiteKind::kOut;
  // kOut / kIn: the port operand: an immediate, or DX when `port_in_dx`.
  bool port_in_dx = false;
  uint16_t port = 0;
  uint8_t size = 0;  // operand size in bytes (1, 2, 4; 8 for a 64-bit rdrand)
  // kRdrand / kRdseed: the destination's register number in encoding order (0 rax, 1 rcx, 2 rdx,
  // 3 rbx, 4 rsp, 5 rbp, 6 rsi, 7 rdi, 8-15 r8-r15), from the decoded operand; -1 if unknown.
  int8_t gpr = -1;
  std::string text;  // "out dx, al": for messages
};

// One executable range of guest code: its guest address and bytes.
struct CodeRange {
  uint64_t address = 0;
  std::span<const uint8_t> bytes;
};

// `uses_fpu`, when given, is set to whether any instruction touches x87, MMX or SSE state (an
// x87 mnemonic, an mm/xmm/ymm operand, or MXCSR). A guest that doesn't cannot change that
// state, so a backend may treat the state it set as authoritative.
std::vector<InstructionSite> scan_code(std::span<const CodeRange> ranges, bool* uses_fpu = nullptr);

}  // namespace hlrr::vmm
