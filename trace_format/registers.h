// trace::Registers: the x86-64 register file as a trace stores it (a value type).
#pragma once

#include <array>
#include <cstdint>

namespace hlrr::trace {

struct Registers {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0, rflags = 0;
  uint16_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
  uint64_t fs_base = 0, gs_base = 0;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;
  uint16_t fcw = 0, fsw = 0, ftw = 0;
  uint32_t mxcsr = 0;
  uint16_t fop = 0;                               // the last x87 instruction's 11-bit opcode (1.3)
  uint64_t fip = 0, fdp = 0;                      // its address and its memory operand's (1.3)
  std::array<std::array<uint8_t, 16>, 16> xmm{};  // little-endian, xmm0 first
  std::array<std::array<uint8_t, 10>, 8> st{};    // 80-bit values, st0 first

  bool operator==(const Registers&) const = default;
};

}  // namespace hlrr::trace
