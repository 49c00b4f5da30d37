#include "debug/gdb_registers.h"

#include <cstring>

namespace hlrr::debug {
namespace {

// gdb register number -> RegisterFile field, for the registers of up to 8 bytes.
struct IntSlot {
  int regno;
  uint64_t RegisterFile::*u64 = nullptr;
  uint16_t RegisterFile::*u16 = nullptr;
  uint32_t RegisterFile::*u32 = nullptr;
};

const IntSlot kIntSlots[] = {
    {rsp::kRax, &RegisterFile::rax},
    {rsp::kRbx, &RegisterFile::rbx},
    {rsp::kRcx, &RegisterFile::rcx},
    {rsp::kRdx, &RegisterFile::rdx},
    {rsp::kRsi, &RegisterFile::rsi},
    {rsp::kRdi, &RegisterFile::rdi},
    {rsp::kRbp, &RegisterFile::rbp},
    {rsp::kRsp, &RegisterFile::rsp},
    {rsp::kR8, &RegisterFile::r8},
    {rsp::kR9, &RegisterFile::r9},
    {rsp::kR10, &RegisterFile::r10},
    {rsp::kR11, &RegisterFile::r11},
    {rsp::kR12, &RegisterFile::r12},
    {rsp::kR13, &RegisterFile::r13},
    {rsp::kR14, &RegisterFile::r14},
    {rsp::kR15, &RegisterFile::r15},
    {rsp::kRip, &RegisterFile::rip},
    {rsp::kEflags, &RegisterFile::rflags},
    {rsp::kFsBase, &RegisterFile::fs_base},
    {rsp::kGsBase, &RegisterFile::gs_base},
    {rsp::kCs, nullptr, &RegisterFile::cs},
    {rsp::kSs, nullptr, &RegisterFile::ss},
    {rsp::kDs, nullptr, &RegisterFile::ds},
    {rsp::kEs, nullptr, &RegisterFile::es},
    {rsp::kFs, nullptr, &RegisterFile::fs},
    {rsp::kGs, nullptr, &RegisterFile::gs},
    {rsp::kFctrl, nullptr, &RegisterFile::fcw},
    {rsp::kFstat, nullptr, &RegisterFile::fsw},
    {rsp::kFtag, nullptr, &RegisterFile::ftw},
    {rsp::kMxcsr, nullptr, nullptr, &RegisterFile::mxcsr},
};

}  // namespace

void to_gdb(const RegisterFile& r, rsp::RegisterFile& out) {
  out.fill(0);
  for (const IntSlot& s : kIntSlots) {
    const uint64_t v = s.u64 ? r.*s.u64 : s.u16 ? r.*s.u16 : r.*s.u32;
    rsp::set_register(out, s.regno, v);
  }
  // amd64 gdb's convention for FXSAVE64: the "segment" halves carry bits 32-63 of the pointers.
  rsp::set_register(out, rsp::kFiseg, r.fip >> 32);
  rsp::set_register(out, rsp::kFioff, r.fip & 0xFFFFFFFF);
  rsp::set_register(out, rsp::kFoseg, r.fdp >> 32);
  rsp::set_register(out, rsp::kFooff, r.fdp & 0xFFFFFFFF);
  rsp::set_register(out, rsp::kFop, r.fop);
  const auto descs = rsp::registers();
  for (int i = 0; i < 8; ++i) {
    std::memcpy(out.data() + descs[rsp::kSt0 + i].offset, r.st[i].data(), 10);
  }
  for (int i = 0; i < 16; ++i) {
    std::memcpy(out.data() + descs[rsp::kXmm0 + i].offset, r.xmm[i].data(), 16);
  }
}

void from_gdb(const rsp::RegisterFile& in, RegisterFile& r) {
  for (const IntSlot& s : kIntSlots) {
    const uint64_t v = rsp::get_register(in, s.regno);
    if (s.u64)
      r.*s.u64 = v;
    else if (s.u16)
      r.*s.u16 = static_cast<uint16_t>(v);
    else
      r.*s.u32 = static_cast<uint32_t>(v);
  }
  const auto half = [&](int regno) { return rsp::get_register(in, regno) & 0xFFFFFFFF; };
  r.fip = half(rsp::kFiseg) << 32 | half(rsp::kFioff);
  r.fdp = half(rsp::kFoseg) << 32 | half(rsp::kFooff);
  r.fop = static_cast<uint16_t>(rsp::get_register(in, rsp::kFop) & 0x7FF);
  const auto descs = rsp::registers();
  for (int i = 0; i < 8; ++i) {
    std::memcpy(r.st[i].data(), in.data() + descs[rsp::kSt0 + i].offset, 10);
  }
  for (int i = 0; i < 16; ++i) {
    std::memcpy(r.xmm[i].data(), in.data() + descs[rsp::kXmm0 + i].offset, 16);
  }
}

}  // namespace hlrr::debug
