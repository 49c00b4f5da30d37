// RegisterFile: the whole architectural state of the vCPU that hlrr reads, writes, compares,
// records and replays. A plain value type: both backends fill it identically, so two register
// files can be compared field by field (see compare_guest_visible()).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace hlrr::vmm {

struct RegisterFile {
  // General-purpose registers, in hardware encoding order.
  uint64_t rax = 0, rcx = 0, rdx = 0, rbx = 0, rsp = 0, rbp = 0, rsi = 0, rdi = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0;
  uint64_t rflags = 0x2;  // bit 1 is always set

  // Segment selectors and the two bases that long mode still uses.
  uint16_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
  uint64_t fs_base = 0, gs_base = 0;

  // Control state. Legitimately differs between backends (Unicorn runs without CR0.PG), so it is
  // never compared and guests never read it.
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;

  // x87 and SSE state. Control words are set explicitly on both backends (Unicorn starts at 0).
  // st[i] is ST(i), counted from the top of the stack (after `fld1`, st[0] is 1.0) as FXSAVE
  // stores it and gdb numbers st0..st7, whatever TOP (fsw bits 11-13) is. ftw is the full
  // 16-bit tag word (2 bits per register, 11 = empty), indexed by *physical* register R0..R7
  // (ST(i) is R((TOP + i) mod 8)) as FSTENV stores it and gdb's ftag shows it.
  uint16_t fcw = 0x37F, fsw = 0, ftw = 0xFFFF;
  // The last x87 non-control instruction: fop is its 11-bit opcode (low 3 bits of the D8-DF byte,
  // then the ModRM byte), fip its address and fdp its memory operand's address (kept from the
  // last instruction that had one), as FXSAVE64 stores them: 64-bit offsets, no selectors.
  uint16_t fop = 0;
  uint64_t fip = 0, fdp = 0;
  uint32_t mxcsr = 0x1F80;
  std::array<std::array<uint8_t, 10>, 8> st{};
  std::array<std::array<uint8_t, 16>, 16> xmm{};

  bool operator==(const RegisterFile&) const = default;
};

// RFLAGS bits whose value after an instruction the architecture leaves undefined somewhere
// (AF, and OF/SF/ZF/PF after mul/div/shift families) are still compared: compiled guest code is
// deterministic on one backend. Cross-backend comparison masks these (see DESIGN.md).
inline constexpr uint64_t kRflagsStatusBits = 0x8D5;  // CF PF AF ZF SF OF

// Names the first guest-visible difference between two register files ("rax: 0x1 != 0x2"),
// or nullopt if they agree. Guest-visible: GPRs, RIP, RFLAGS (under `rflags_mask`), selectors,
// fs/gs base, x87/SSE control and data, and (unless `x87_last` is false) fop/fip/fdp. Control
// registers are not compared. Backends differ on fop/fip/fdp (hardware updates them only on an
// unmasked exception on some CPUs), so cross-backend comparisons pass x87_last = false.
std::optional<std::string> first_difference(const RegisterFile& a, const RegisterFile& b,
                                            uint64_t rflags_mask = ~0ull, bool x87_last = true);

}  // namespace hlrr::vmm
