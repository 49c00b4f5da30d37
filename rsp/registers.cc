#include "rsp/registers.h"

#include <cstring>

#include "base/check.h"

namespace hlrr::rsp {
namespace {

constexpr std::string_view kGpr = "General Purpose Registers";
constexpr std::string_view kFpu = "Floating Point Registers";
constexpr std::string_view kSseSet = "SSE Registers";

struct Builder {
  std::array<RegisterDesc, kRegisterCount> regs{};
  int next = 0;
  uint16_t offset = 0;
  constexpr void add(std::string_view name, uint16_t bits, std::string_view type,
                     std::string_view group, RegFeature feature, RegEncoding enc, int dwarf,
                     std::string_view generic, std::string_view set) {
    regs[next++] = RegisterDesc{name, bits, offset, type, group, feature, enc, dwarf, generic, set};
    offset = static_cast<uint16_t>(offset + bits / 8);
  }
};

constexpr Builder build() {
  using F = RegFeature;
  using E = RegEncoding;
  Builder b;
  constexpr std::string_view gp[16] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                                       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  // DWARF numbers of the System V x86-64 ABI.
  constexpr int gp_dwarf[16] = {0, 3, 2, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  for (int i = 0; i < 16; ++i) {
    std::string_view type = i == kRbp || i == kRsp ? "data_ptr" : "int64";
    std::string_view generic = i == kRbp ? "fp" : i == kRsp ? "sp" : "";
    b.add(gp[i], 64, type, "", F::kCore, E::kUint, gp_dwarf[i], generic, kGpr);
  }
  b.add("rip", 64, "code_ptr", "", F::kCore, E::kUint, 16, "pc", kGpr);
  b.add("eflags", 32, "i386_eflags", "", F::kCore, E::kUint, 49, "flags", kGpr);
  constexpr std::string_view seg[6] = {"cs", "ss", "ds", "es", "fs", "gs"};
  constexpr int seg_dwarf[6] = {51, 52, 53, 50, 54, 55};
  for (int i = 0; i < 6; ++i)
    b.add(seg[i], 32, "int32", "", F::kCore, E::kUint, seg_dwarf[i], "", kGpr);
  constexpr std::string_view st[8] = {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"};
  for (int i = 0; i < 8; ++i)
    b.add(st[i], 80, "i387_ext", "", F::kCore, E::kVector, 33 + i, "", kFpu);
  constexpr std::string_view fp[8] = {"fctrl", "fstat", "ftag",  "fiseg",
                                      "fioff", "foseg", "fooff", "fop"};
  constexpr int fp_dwarf[8] = {65, 66, -1, -1, -1, -1, -1, -1};
  for (int i = 0; i < 8; ++i)
    b.add(fp[i], 32, "int", "float", F::kCore, E::kUint, fp_dwarf[i], "", kFpu);
  constexpr std::string_view xmm[16] = {"xmm0",  "xmm1",  "xmm2",  "xmm3", "xmm4",  "xmm5",
                                        "xmm6",  "xmm7",  "xmm8",  "xmm9", "xmm10", "xmm11",
                                        "xmm12", "xmm13", "xmm14", "xmm15"};
  for (int i = 0; i < 16; ++i)
    b.add(xmm[i], 128, "vec128", "", F::kSse, E::kVector, 17 + i, "", kSseSet);
  b.add("mxcsr", 32, "i386_mxcsr", "vector", F::kSse, E::kUint, 64, "", kSseSet);
  b.add("fs_base", 64, "int", "", F::kSegments, E::kUint, 58, "", kGpr);
  b.add("gs_base", 64, "int", "", F::kSegments, E::kUint, 59, "", kGpr);
  return b;
}

constexpr Builder kBuilt = build();
static_assert(kBuilt.next == kRegisterCount);
static_assert(kBuilt.offset == kRegisterFileSize);
static_assert(kBuilt.regs[kRip].offset == 128 && kBuilt.regs[kXmm0].offset == 276);

}  // namespace

std::span<const RegisterDesc> registers() {
  return kBuilt.regs;
}

uint64_t get_register(const RegisterFile& file, int regno) {
  HLRR_CHECK(regno >= 0 && regno < kRegisterCount);
  const RegisterDesc& r = kBuilt.regs[regno];
  uint64_t value = 0;
  std::memcpy(&value, file.data() + r.offset, r.bitsize / 8 < 8 ? r.bitsize / 8 : 8);
  return value;
}

void set_register(RegisterFile& file, int regno, uint64_t value) {
  HLRR_CHECK(regno >= 0 && regno < kRegisterCount);
  const RegisterDesc& r = kBuilt.regs[regno];
  std::memcpy(file.data() + r.offset, &value, r.bitsize / 8 < 8 ? r.bitsize / 8 : 8);
}

}  // namespace hlrr::rsp
