// The x86-64 register file as gdb numbers it (gdb's features/i386/64bit-{core,sse,segments}.xml,
// in that order), shared by the `g` packet layout, the target description XML and lldb's
// qRegisterInfo. The layout is fixed for a whole session: targets fill every slot.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace hlrr::rsp {

// gdb register numbers (the `p`/`P` packet numbers and the order in the `g` packet).
// clang-format off
enum RegNum : int {
  kRax = 0, kRbx, kRcx, kRdx, kRsi, kRdi, kRbp, kRsp,
  kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15,
  kRip = 16, kEflags = 17,
  kCs = 18, kSs, kDs, kEs, kFs, kGs,
  kSt0 = 24,                          // st0..st7: 24..31, 10 bytes each
  kFctrl = 32, kFstat, kFtag, kFiseg, kFioff, kFoseg, kFooff, kFop,
  kXmm0 = 40,                         // xmm0..xmm15: 40..55, 16 bytes each
  kMxcsr = 56,
  kFsBase = 57, kGsBase = 58,
  kRegisterCount = 59,
  // orig_rax, Linux's syscall-restart register (feature org.gnu.gdb.i386.linux): gdb's GNU/Linux
  // x86-64 architecture, which writes cores (`gcore`), exists only with it. A guest makes no
  // syscalls, so the server itself serves it, always -1, after the register file (writes are
  // ignored): targets never see it, qRegisterInfo does not list it.
  kOrigRax = 59,
  kWireRegisterCount = 60,
};
// clang-format on

enum class RegFeature : uint8_t { kCore, kSse, kSegments };

// lldb's register encodings and formats (qRegisterInfo).
enum class RegEncoding : uint8_t { kUint, kVector };

struct RegisterDesc {
  std::string_view name;
  uint16_t bitsize;
  uint16_t offset;         // byte offset in the `g` packet
  std::string_view type;   // gdb tdesc type
  std::string_view group;  // gdb tdesc group ("" = default)
  RegFeature feature;
  RegEncoding encoding;
  int dwarf;                 // DWARF/gcc number, -1 if none
  std::string_view generic;  // lldb generic name ("pc", "sp", "fp", "flags") or ""
  std::string_view set;      // lldb register set
};

// All registers in gdb order; registers()[n].offset is its place in the register file.
std::span<const RegisterDesc> registers();

// Bytes of the whole `g` register file (sum of all register sizes).
inline constexpr std::size_t kRegisterFileSize = 552;

// Bytes of the `g` packet: the register file, then orig_rax.
inline constexpr std::size_t kWireRegisterFileSize = kRegisterFileSize + 8;

// The register file in `g` layout, little-endian, as targets read and write it.
using RegisterFile = std::array<uint8_t, kRegisterFileSize>;

// Reads/writes a register of up to 8 bytes as an integer (helpers for targets and tests).
uint64_t get_register(const RegisterFile& file, int regno);
void set_register(RegisterFile& file, int regno, uint64_t value);

}  // namespace hlrr::rsp
