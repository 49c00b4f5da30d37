// The software vCPU's non-deterministic instructions, driven directly with hand-assembled code:
// each stops before the instruction with kNondet, and set_nondet_result() writes the result
// exactly where the instruction would (and only there) and moves RIP past it.
#include <gtest/gtest.h>

#include "hl_abi.h"
#include "vmm/code_scan.h"
#include "vmm/guest_memory.h"
#include "vmm/long_mode.h"
#include "vmm/unicorn_vcpu.h"

namespace hlrr::vmm {
namespace {

constexpr uint64_t kCode = HL_IMAGE_BASE;

TEST(NondetVcpu, EachInstructionStopsBeforeAndTakesItsResult) {
  const uint8_t code[] = {
      0x0F, 0x31,              // +0  rdtsc
      0x0F, 0x01, 0xF9,        // +2  rdtscp
      0x0F, 0xC7, 0xF3,        // +5  rdrand ebx
      0x49, 0x0F, 0xC7, 0xFA,  // +8  rdseed r10
      0x66, 0x0F, 0xC7, 0xF6,  // +12 rdrand si
      0xF4,                    // +16 hlt
  };
  auto memory = GuestMemory::create(4 << 20);
  ASSERT_TRUE(memory);
  ASSERT_TRUE(write_page_tables(*memory));
  ASSERT_TRUE(write_descriptor_tables(*memory));
  ASSERT_TRUE(memory->write(kCode, code));
  const CodeRange range{kCode, code};
  auto sites = scan_code(std::span(&range, 1));
  auto vcpu = UnicornVcpu::create(*memory, sites);
  ASSERT_TRUE(vcpu) << vcpu.error().message;
  RegisterFile regs = initial_registers(kCode);
  regs.rax = regs.rdx = regs.rcx = regs.rbx = regs.r10 = ~0ull;
  regs.rsi = 0x1111222233334444;
  regs.rflags = 0x2 | 0x8D5;  // every status flag set: rdrand must clear all but CF
  ASSERT_TRUE((*vcpu)->set_registers(regs));

  const auto expect_stop = [&](NondetInstruction kind, uint64_t rip, uint8_t size) {
    const VcpuExit exit = (*vcpu)->run({});
    ASSERT_EQ(exit.kind, ExitKind::kNondet) << to_string(exit.kind) << " " << exit.detail;
    EXPECT_EQ(exit.nondet, kind);
    EXPECT_EQ(exit.size, size);
    EXPECT_EQ((*vcpu)->registers()->rip, rip);  // before the instruction
  };
  expect_stop(NondetInstruction::kRdtsc, kCode, 0);
  (*vcpu)->set_nondet_result(0x1234567890ABCDEF, 0);
  auto r = *(*vcpu)->registers();
  EXPECT_EQ(r.rax, 0x90ABCDEFu);  // upper halves cleared
  EXPECT_EQ(r.rdx, 0x12345678u);
  EXPECT_EQ(r.rcx, ~0ull);
  EXPECT_EQ(r.rip, kCode + 2);

  expect_stop(NondetInstruction::kRdtscp, kCode + 2, 0);
  (*vcpu)->set_nondet_result(0xAAAABBBBCCCCDDDD, 7);
  r = *(*vcpu)->registers();
  EXPECT_EQ(r.rax, 0xCCCCDDDDu);
  EXPECT_EQ(r.rdx, 0xAAAABBBBu);
  EXPECT_EQ(r.rcx, 7u);
  EXPECT_EQ(r.rip, kCode + 5);

  expect_stop(NondetInstruction::kRdrand, kCode + 5, 4);
  (*vcpu)->set_nondet_result(0xFEEDFACECAFEBEEF, 1);
  r = *(*vcpu)->registers();
  EXPECT_EQ(r.rbx, 0xCAFEBEEFu);      // a 32-bit destination zero-extends
  EXPECT_EQ(r.rflags & 0x8D5, 0x1u);  // CF=1, OF SF ZF AF PF cleared
  EXPECT_EQ(r.rip, kCode + 8);

  expect_stop(NondetInstruction::kRdseed, kCode + 8, 8);
  (*vcpu)->set_nondet_result(0x0102030405060708, 0);  // a busy DRNG: CF=0
  r = *(*vcpu)->registers();
  EXPECT_EQ(r.r10, 0x0102030405060708u);
  EXPECT_EQ(r.rflags & 0x8D5, 0x0u);
  EXPECT_EQ(r.rip, kCode + 12);

  expect_stop(NondetInstruction::kRdrand, kCode + 12, 2);
  (*vcpu)->set_nondet_result(0xFFFFFFFFFFFF9999, 1);
  r = *(*vcpu)->registers();
  EXPECT_EQ(r.rsi, 0x1111222233339999u);  // a 16-bit destination keeps the rest
  EXPECT_EQ(r.rip, kCode + 16);

  EXPECT_EQ((*vcpu)->run({}).kind, ExitKind::kHalt);
  EXPECT_EQ((*vcpu)->registers()->rip, kCode + 17);
}

}  // namespace
}  // namespace hlrr::vmm

namespace hlrr::vmm {
namespace {

// An InstructionSite's text is for messages only: where rdrand/rdseed put their result comes
// from the decoded operand (r13d here, which the text parse once missed for an empty text).
TEST(NondetVcpu, TheDestinationComesFromTheDecodedOperandNotTheText) {
  const uint8_t code[] = {
      0x41, 0x0F, 0xC7, 0xF5,  // +0 rdrand r13d
      0xF4,                    // +4 hlt
  };
  auto memory = GuestMemory::create(4 << 20);
  ASSERT_TRUE(memory);
  ASSERT_TRUE(write_page_tables(*memory));
  ASSERT_TRUE(write_descriptor_tables(*memory));
  ASSERT_TRUE(memory->write(kCode, code));
  const CodeRange range{kCode, code};
  auto sites = scan_code(std::span(&range, 1));
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_EQ(sites[0].kind, SiteKind::kRdrand);
  EXPECT_EQ(sites[0].size, 4);
  for (auto& site : sites) site.text.clear();
  auto vcpu = UnicornVcpu::create(*memory, sites);
  ASSERT_TRUE(vcpu) << vcpu.error().message;
  RegisterFile regs = initial_registers(kCode);
  regs.rax = regs.r13 = ~0ull;
  ASSERT_TRUE((*vcpu)->set_registers(regs));
  const VcpuExit exit = (*vcpu)->run({});
  ASSERT_EQ(exit.kind, ExitKind::kNondet) << to_string(exit.kind) << " " << exit.detail;
  (*vcpu)->set_nondet_result(0x1122334455667788, 1);
  const RegisterFile r = *(*vcpu)->registers();
  EXPECT_EQ(r.r13, 0x55667788u);  // a 32-bit destination zero-extends
  EXPECT_EQ(r.rax, ~0ull);        // untouched
  EXPECT_EQ(r.rflags & 0x8D5, 0x1u);
  EXPECT_EQ(r.rip, kCode + 4);
}

}  // namespace
}  // namespace hlrr::vmm
