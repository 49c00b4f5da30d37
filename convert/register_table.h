// The one register table: every field of vmm::RegisterFile with its twin in the trace's
// trace::Registers and its place in gdb's register layout (rsp/registers.h). The conversions
// between the three (convert/registers.h) are derived from it, so a register added to one
// format and not the others fails to compile (the member pointers must exist and agree in type)
// or fails the round-trip tests (tests/convert).
#pragma once

#include <cstdint>
#include <string_view>
#include <tuple>

#include "rsp/registers.h"
#include "trace_format/registers.h"
#include "vmm/register_file.h"

namespace hlrr::convert {

// How a field appears in gdb's layout.
enum class GdbForm : uint8_t {
  kNone,     // not shown to gdb (control registers: they differ between backends)
  kInteger,  // one register of up to 8 bytes, number `gdb`
  kSplit,    // a 64-bit pointer as two 32-bit registers: high half `gdb`, low half `gdb + 1`
             // (amd64 gdb's fiseg:fioff and foseg:fooff for FXSAVE64's fip and fdp)
  kArray,    // element i is register `gdb + i`, its raw little-endian bytes
};

template <typename T>
struct RegisterField {
  std::string_view name;  // the member's name in both structs
  T vmm::RegisterFile::*vmm;
  T trace::Registers::*trace;
  int gdb;  // first gdb register number (rsp::RegNum); -1 with GdbForm::kNone
  GdbForm form;
  uint64_t gdb_mask = ~0ull;  // the bits a gdb write can set (fop is an 11-bit opcode)
};

// clang-format off
// One row: the member named alike in vmm::RegisterFile and trace::Registers.
#define HLRR_REGISTER_FIELD(member, ...)                                          \
  ::hlrr::convert::RegisterField<decltype(::hlrr::vmm::RegisterFile::member)> {   \
    #member, &::hlrr::vmm::RegisterFile::member, &::hlrr::trace::Registers::member, \
    __VA_ARGS__                                                                     \
  }

// In vmm::RegisterFile's order.
inline constexpr auto kRegisterTable = std::make_tuple(
    HLRR_REGISTER_FIELD(rax, rsp::kRax, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rcx, rsp::kRcx, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rdx, rsp::kRdx, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rbx, rsp::kRbx, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rsp, rsp::kRsp, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rbp, rsp::kRbp, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rsi, rsp::kRsi, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rdi, rsp::kRdi, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r8, rsp::kR8, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r9, rsp::kR9, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r10, rsp::kR10, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r11, rsp::kR11, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r12, rsp::kR12, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r13, rsp::kR13, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r14, rsp::kR14, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(r15, rsp::kR15, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rip, rsp::kRip, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(rflags, rsp::kEflags, GdbForm::kInteger),  // gdb's eflags: 32 bits
    HLRR_REGISTER_FIELD(cs, rsp::kCs, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(ss, rsp::kSs, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(ds, rsp::kDs, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(es, rsp::kEs, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(fs, rsp::kFs, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(gs, rsp::kGs, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(fs_base, rsp::kFsBase, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(gs_base, rsp::kGsBase, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(cr0, -1, GdbForm::kNone),
    HLRR_REGISTER_FIELD(cr2, -1, GdbForm::kNone),
    HLRR_REGISTER_FIELD(cr3, -1, GdbForm::kNone),
    HLRR_REGISTER_FIELD(cr4, -1, GdbForm::kNone),
    HLRR_REGISTER_FIELD(efer, -1, GdbForm::kNone),
    HLRR_REGISTER_FIELD(fcw, rsp::kFctrl, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(fsw, rsp::kFstat, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(ftw, rsp::kFtag, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(fop, rsp::kFop, GdbForm::kInteger, 0x7FF),
    HLRR_REGISTER_FIELD(fip, rsp::kFiseg, GdbForm::kSplit),
    HLRR_REGISTER_FIELD(fdp, rsp::kFoseg, GdbForm::kSplit),
    HLRR_REGISTER_FIELD(mxcsr, rsp::kMxcsr, GdbForm::kInteger),
    HLRR_REGISTER_FIELD(st, rsp::kSt0, GdbForm::kArray),
    HLRR_REGISTER_FIELD(xmm, rsp::kXmm0, GdbForm::kArray));
// clang-format on

#undef HLRR_REGISTER_FIELD

// Calls `f(field)` for every row of kRegisterTable, in order.
template <typename F>
constexpr void for_each_register_field(F&& f) {
  std::apply([&](const auto&... field) { (f(field), ...); }, kRegisterTable);
}

}  // namespace hlrr::convert
