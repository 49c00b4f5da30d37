// The register table's conversions: vmm::RegisterFile <-> trace::Registers <-> gdb's layout,
// every field, x87 fop/fip/fdp, segments, xmm and mxcsr included.
#include "convert/registers.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "convert/register_table.h"

namespace hlrr::convert {
namespace {

// Every byte of every field distinct: a field a conversion forgets keeps its default and shows.
vmm::RegisterFile patterned() {
  vmm::RegisterFile r;
  auto* bytes = reinterpret_cast<uint8_t*>(&r);
  for (std::size_t i = 0; i < sizeof r; ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  return r;
}

// Values gdb's registers can hold: eflags 32 bits, fop 11 bits.
vmm::RegisterFile gdb_representable() {
  vmm::RegisterFile r = patterned();
  r.rflags &= 0xFFFFFFFF;
  r.fop &= 0x7FF;
  return r;
}

TEST(RegisterTable, TraceRoundTripKeepsEveryField) {
  const vmm::RegisterFile r = patterned();
  const trace::Registers t = to_trace(r);
  EXPECT_EQ(from_trace(t), r);
  EXPECT_EQ(t.rax, r.rax);
  EXPECT_EQ(t.r15, r.r15);
  EXPECT_EQ(t.rip, r.rip);
  EXPECT_EQ(t.rflags, r.rflags);
  EXPECT_EQ(t.cs, r.cs);
  EXPECT_EQ(t.gs, r.gs);
  EXPECT_EQ(t.fs_base, r.fs_base);
  EXPECT_EQ(t.gs_base, r.gs_base);
  EXPECT_EQ(t.cr0, r.cr0);
  EXPECT_EQ(t.efer, r.efer);
  EXPECT_EQ(t.fcw, r.fcw);
  EXPECT_EQ(t.fsw, r.fsw);
  EXPECT_EQ(t.ftw, r.ftw);
  EXPECT_EQ(t.fop, r.fop);
  EXPECT_EQ(t.fip, r.fip);
  EXPECT_EQ(t.fdp, r.fdp);
  EXPECT_EQ(t.mxcsr, r.mxcsr);
  EXPECT_EQ(t.st, r.st);
  EXPECT_EQ(t.xmm, r.xmm);
}

TEST(RegisterTable, TraceToRegisterFileKeepsEveryField) {
  trace::Registers t;
  auto* bytes = reinterpret_cast<uint8_t*>(&t);
  for (std::size_t i = 0; i < sizeof t; ++i) bytes[i] = static_cast<uint8_t>(i * 13 + 5);
  EXPECT_EQ(to_trace(from_trace(t)), t);
}

TEST(RegisterTable, GdbRoundTripKeepsEveryFieldGdbShows) {
  const vmm::RegisterFile r = gdb_representable();
  rsp::RegisterFile g;
  to_gdb(r, g);
  vmm::RegisterFile back;
  back.cr0 = r.cr0, back.cr2 = r.cr2, back.cr3 = r.cr3, back.cr4 = r.cr4, back.efer = r.efer;
  from_gdb(g, back);
  EXPECT_EQ(back, r);
}

TEST(RegisterTable, GdbLayoutHoldsEachFieldWhereGdbLooks) {
  vmm::RegisterFile r = gdb_representable();
  r.fip = 0x1122334455667788;
  r.fdp = 0x99AABBCCDDEEFF00;
  r.fop = 0x5E9;
  rsp::RegisterFile g;
  to_gdb(r, g);
  EXPECT_EQ(rsp::get_register(g, rsp::kRax), r.rax);
  EXPECT_EQ(rsp::get_register(g, rsp::kRbx), r.rbx);  // gdb orders rax rbx rcx rdx
  EXPECT_EQ(rsp::get_register(g, rsp::kRsp), r.rsp);
  EXPECT_EQ(rsp::get_register(g, rsp::kRip), r.rip);
  EXPECT_EQ(rsp::get_register(g, rsp::kEflags), r.rflags);
  EXPECT_EQ(rsp::get_register(g, rsp::kCs), r.cs);
  EXPECT_EQ(rsp::get_register(g, rsp::kGs), r.gs);
  EXPECT_EQ(rsp::get_register(g, rsp::kFsBase), r.fs_base);
  EXPECT_EQ(rsp::get_register(g, rsp::kGsBase), r.gs_base);
  EXPECT_EQ(rsp::get_register(g, rsp::kFctrl), r.fcw);
  EXPECT_EQ(rsp::get_register(g, rsp::kFstat), r.fsw);
  EXPECT_EQ(rsp::get_register(g, rsp::kFtag), r.ftw);
  EXPECT_EQ(rsp::get_register(g, rsp::kFiseg), 0x11223344u);
  EXPECT_EQ(rsp::get_register(g, rsp::kFioff), 0x55667788u);
  EXPECT_EQ(rsp::get_register(g, rsp::kFoseg), 0x99AABBCCu);
  EXPECT_EQ(rsp::get_register(g, rsp::kFooff), 0xDDEEFF00u);
  EXPECT_EQ(rsp::get_register(g, rsp::kFop), 0x5E9u);
  EXPECT_EQ(rsp::get_register(g, rsp::kMxcsr), r.mxcsr);
  const auto descs = rsp::registers();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(std::memcmp(g.data() + descs[rsp::kSt0 + i].offset, r.st[i].data(), 10), 0) << i;
  }
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(std::memcmp(g.data() + descs[rsp::kXmm0 + i].offset, r.xmm[i].data(), 16), 0) << i;
  }
}

TEST(RegisterTable, GdbWritesKeepControlRegistersAndMaskFop) {
  vmm::RegisterFile r;
  r.cr0 = 0x80000011, r.cr3 = 0x1000, r.efer = 0x500;
  rsp::RegisterFile g{};
  rsp::set_register(g, rsp::kRax, 7);
  rsp::set_register(g, rsp::kFop, 0xFFFF);
  from_gdb(g, r);
  EXPECT_EQ(r.rax, 7u);
  EXPECT_EQ(r.fop, 0x7FFu);
  EXPECT_EQ(r.cr0, 0x80000011u);
  EXPECT_EQ(r.cr3, 0x1000u);
  EXPECT_EQ(r.efer, 0x500u);
}

// Every gdb register is one table row's (or part of one): the `g` packet has no hole.
TEST(RegisterTable, CoversEveryGdbRegisterOnce) {
  std::multiset<int> covered;
  const vmm::RegisterFile sample;
  for_each_register_field([&](const auto& f) {
    const auto& member = sample.*f.vmm;
    switch (f.form) {
      case GdbForm::kNone:
        break;
      case GdbForm::kInteger:
        covered.insert(f.gdb);
        break;
      case GdbForm::kSplit:
        covered.insert(f.gdb);
        covered.insert(f.gdb + 1);
        break;
      case GdbForm::kArray:
        if constexpr (!std::is_integral_v<std::decay_t<decltype(member)>>) {
          for (std::size_t i = 0; i < member.size(); ++i) covered.insert(f.gdb + int(i));
        }
        break;
    }
  });
  EXPECT_EQ(covered.size(), static_cast<std::size_t>(rsp::kRegisterCount));
  for (int regno = 0; regno < rsp::kRegisterCount; ++regno) {
    EXPECT_EQ(covered.count(regno), 1u) << rsp::registers()[regno].name;
  }
}

}  // namespace
}  // namespace hlrr::convert
