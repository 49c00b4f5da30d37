#include "vmm/long_mode.h"

#include <gtest/gtest.h>

#include "hl_abi.h"

namespace hlrr::vmm {
namespace {

class LongModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::create(0x400000);
    ASSERT_TRUE(m.has_value());
    memory_ = std::make_unique<GuestMemory>(std::move(*m));
    ASSERT_TRUE(write_page_tables(*memory_).has_value());
    ASSERT_TRUE(write_descriptor_tables(*memory_).has_value());
  }
  uint64_t u64(uint64_t gpa) { return *memory_->read_value<uint64_t>(gpa); }

  // Walks the page tables as the MMU would; returns the entry that maps `va` or 0.
  uint64_t translate(uint64_t va) {
    const uint64_t pml4e = u64(HL_PAGE_TABLES_BASE + ((va >> 39) & 511) * 8);
    if (!(pml4e & kPtePresent)) return 0;
    const uint64_t pdpte = u64((pml4e & ~0xFFFull) + ((va >> 30) & 511) * 8);
    if (!(pdpte & kPtePresent)) return 0;
    const uint64_t pde = u64((pdpte & ~0xFFFull) + ((va >> 21) & 511) * 8);
    if (!(pde & kPtePresent)) return 0;
    if (pde & kPteLarge) return pde;
    return u64((pde & ~0xFFFull) + ((va >> 12) & 511) * 8);
  }

  std::unique_ptr<GuestMemory> memory_;
};

TEST_F(LongModeTest, IdentityMapsTheFirstFourGigabytes) {
  for (uint64_t va : {0x1000ull, 0x10000ull, 0x31000ull, 0x100000ull, 0x1FF000ull, 0x200000ull,
                      0x3FFFFFull, 0x80000000ull, 0xFFFFF000ull}) {
    const uint64_t pte = translate(va);
    ASSERT_NE(pte & kPtePresent, 0u) << std::hex << va;
    const uint64_t page_mask = (pte & kPteLarge) ? ~0x1FFFFFull : ~0xFFFull;
    EXPECT_EQ(pte & page_mask & 0xFFFFFFFFFF000ull, va & page_mask) << std::hex << va;
    // Accessed and dirty pre-set: the CPU never writes the tables.
    EXPECT_EQ(pte & (kPteAccessed | kPteDirty), kPteAccessed | kPteDirty) << std::hex << va;
  }
}

TEST_F(LongModeTest, LeavesTheNullPageAndTheStackGuardUnmapped) {
  EXPECT_EQ(translate(0), 0u);
  EXPECT_EQ(translate(0xFFF), 0u);
  EXPECT_EQ(translate(HL_STACK_GUARD), 0u);
  EXPECT_EQ(translate(HL_STACK_GUARD + 0xFFF), 0u);
  EXPECT_NE(translate(HL_STACK_GUARD + 0x1000), 0u);
  EXPECT_EQ(translate(HL_MAPPED_LIMIT), 0u);  // beyond 4 GiB
}

TEST_F(LongModeTest, GdtHasFlatLongModeCodeDataAndTss) {
  EXPECT_EQ(u64(HL_GDT_BASE), 0u);
  EXPECT_EQ(u64(HL_GDT_BASE + kCodeSelector), 0x00AF9B000000FFFFull);  // L=1, P, DPL0, exec/read
  EXPECT_EQ(u64(HL_GDT_BASE + kDataSelector), 0x00CF93000000FFFFull);
  const uint64_t tss = u64(HL_GDT_BASE + kTssSelector);
  EXPECT_EQ((tss >> 40) & 0xFF, 0x89u);  // present, available 64-bit TSS
  EXPECT_EQ((tss >> 16) & 0xFFFFFF, HL_TSS_BASE);
  EXPECT_EQ(u64(HL_TSS_BASE + 0x24), HL_EXCEPTION_STACK_TOP);  // IST1
}

TEST_F(LongModeTest, IdtStubsReportTheirVectorOnTheExceptionPort) {
  for (uint8_t v : {0, 6, 13, 14}) {
    const uint64_t lo = u64(HL_IDT_BASE + v * 16);
    const uint64_t handler = (lo & 0xFFFF) | (((lo >> 48) & 0xFFFF) << 16);
    EXPECT_EQ(handler, HL_EXCEPTION_STUBS_BASE + v * HL_EXCEPTION_STUB_SIZE);
    EXPECT_EQ((lo >> 32) & 7, 1u);        // IST1
    EXPECT_EQ((lo >> 40) & 0xFF, 0x8Eu);  // present interrupt gate
    std::vector<uint8_t> stub(HL_EXCEPTION_STUB_SIZE);
    ASSERT_TRUE(memory_->read(handler, stub).has_value());
    const size_t start = vector_has_error_code(v) ? 0 : 2;  // `push 0` for vectors without one
    EXPECT_EQ(stub[start + 2], 0xB0);                       // mov al, v
    EXPECT_EQ(stub[start + 3], v);
  }
}

TEST(InitialRegisters, StartAtTheEntryWithDefinedControlWords) {
  const RegisterFile r = initial_registers(0x100123);
  EXPECT_EQ(r.rip, 0x100123u);
  EXPECT_EQ(r.rsp, HL_STACK_TOP);
  EXPECT_EQ(r.rflags, 0x2u);
  EXPECT_EQ(r.cs, kCodeSelector);
  EXPECT_EQ(r.ss, kDataSelector);
  EXPECT_EQ(r.fcw, 0x37F);
  EXPECT_EQ(r.mxcsr, 0x1F80u);
  EXPECT_EQ(r.efer, 0x500u);
}

}  // namespace
}  // namespace hlrr::vmm
