// The software vCPU's dirty-page tracking (vmm/lazy_write_tracking.h): a copy of memory until a
// consumer first collects after the guest ran, the write hook from then on. Whichever way, no
// page the guest or the host wrote may be missing from a cursor's take.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "hl_abi.h"
#include "vmm/code_scan.h"
#include "vmm/long_mode.h"
#include "vmm/unicorn_vcpu.h"

namespace hlrr::vmm {
namespace {

constexpr uint64_t kCode = HL_IMAGE_BASE;  // 0x100000

// Assembled with GNU as (intel syntax). Stage 1, up to the first hlt:
//   mov eax, 0x11223344; mov dword ptr [0x200010], eax     (a store in the middle of a block)
//   add eax, 1; mov byte ptr [0x204000], al
//   mov rsi, 0x100000; mov rdi, 0x205ff8; mov ecx, 16; rep movsb   (across pages 0x205/0x206)
//   movabs rax, 0x5555555555555555; mov rdi, 0x208000; mov ecx, 1024; rep stosq  (0x208, 0x209)
//   hlt
// Stage 2: xor eax, eax; mov dword ptr [0x200010], eax   (page 0x200 back to all zero)
//   mov qword ptr [0x20c000], rax   (page 0x20c written with the bytes it holds); hlt
constexpr uint8_t kStores[] = {
    0xb8, 0x44, 0x33, 0x22, 0x11, 0x89, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00, 0x83, 0xc0, 0x01,
    0x88, 0x04, 0x25, 0x00, 0x40, 0x20, 0x00, 0x48, 0xc7, 0xc6, 0x00, 0x00, 0x10, 0x00, 0x48,
    0xc7, 0xc7, 0xf8, 0x5f, 0x20, 0x00, 0xb9, 0x10, 0x00, 0x00, 0x00, 0xf3, 0xa4, 0x48, 0xb8,
    0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x48, 0xc7, 0xc7, 0x00, 0x80, 0x20, 0x00,
    0xb9, 0x00, 0x04, 0x00, 0x00, 0xf3, 0x48, 0xab, 0xf4, 0x31, 0xc0, 0x89, 0x04, 0x25, 0x10,
    0x00, 0x20, 0x00, 0x48, 0x89, 0x04, 0x25, 0x00, 0xc0, 0x20, 0x00, 0xf4};
// Pages stage 1 writes, and a page the host writes between the stages.
const std::vector<uint64_t> kStage1Pages = {0x200, 0x204, 0x205, 0x206, 0x208, 0x209};
constexpr uint64_t kHostPage = 0x20a;

struct Machine {
  GuestMemory memory;
  std::unique_ptr<UnicornVcpu> vcpu;
};

std::unique_ptr<Machine> boot(std::span<const uint8_t> code = kStores) {
  auto memory = GuestMemory::create(4ull << 20);
  EXPECT_TRUE(memory.has_value());
  if (!memory) return nullptr;
  auto m = std::make_unique<Machine>(Machine{std::move(*memory), nullptr});
  EXPECT_TRUE(write_page_tables(m->memory).has_value());
  EXPECT_TRUE(write_descriptor_tables(m->memory).has_value());
  EXPECT_TRUE(m->memory.write(kCode, code).has_value());
  const CodeRange range{kCode, code};
  auto vcpu = UnicornVcpu::create(m->memory, scan_code(std::span(&range, 1), nullptr));
  EXPECT_TRUE(vcpu.has_value());
  if (!vcpu) return nullptr;
  m->vcpu = std::move(*vcpu);
  EXPECT_TRUE(m->vcpu->set_registers(initial_registers(kCode)).has_value());
  return m;
}

void run_stage(Machine& m) {
  const VcpuExit exit = m.vcpu->run({});
  EXPECT_EQ(exit.kind, ExitKind::kHalt) << exit.detail;
}

std::vector<uint64_t> take(DirtyPageLog::Cursor& cursor) {
  std::vector<uint64_t> pages;
  EXPECT_TRUE(cursor.take(pages).has_value());
  std::sort(pages.begin(), pages.end());
  return pages;
}

TEST(UnicornDirtyPages, EveryKindOfStoreIsReportedBeforeAndAfterTheHookTakesOver) {
  auto m = boot();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->vcpu->set_dirty_tracking(true));
  auto cursor = m->memory.dirty_log().open();
  run_stage(*m);
  const uint8_t host_bytes[] = {1, 2, 3};
  ASSERT_TRUE(m->memory.write(kHostPage * 0x1000 + 0x10, host_bytes));
  std::vector<uint64_t> expected = kStage1Pages;
  expected.push_back(kHostPage);
  EXPECT_EQ(take(cursor), expected);
  EXPECT_TRUE(m->vcpu->write_hook_installed());
  // Exact from the first take: a page written back to its old bytes, and one written with the
  // bytes it holds, are written pages.
  run_stage(*m);
  EXPECT_EQ(take(cursor), (std::vector<uint64_t>{0x200, 0x20c}));
  EXPECT_TRUE(take(cursor).empty());
}

TEST(UnicornDirtyPages, ACursorOpenedAfterTheGuestRanMissesNothingAfterIt) {
  auto m = boot();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->vcpu->set_dirty_tracking(true));
  auto first = m->memory.dirty_log().open();
  run_stage(*m);
  // Page 0x200 now differs from memory as tracking found it; stage 2 puts it back. The new
  // cursor must see that write although memory ends as it was when tracking began.
  auto second = m->memory.dirty_log().open();
  run_stage(*m);
  EXPECT_EQ(take(second), (std::vector<uint64_t>{0x200, 0x20c}));
  std::vector<uint64_t> all = kStage1Pages;
  all.push_back(0x20c);
  EXPECT_EQ(take(first), all);
}

TEST(UnicornDirtyPages, StoresCostNothingUntilAConsumerTakes) {
  auto m = boot();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->vcpu->set_dirty_tracking(true));
  auto cursor = m->memory.dirty_log().open();
  run_stage(*m);
  run_stage(*m);
  // What hlreplay --check does: tracking on for checkpoints it never takes.
  EXPECT_FALSE(m->vcpu->write_hook_installed());
  // The first take compares with memory as tracking found it: 0x200 (back to zero) and 0x20c
  // (its own bytes) hold what they held then, which is all a consumer of contents needs.
  EXPECT_EQ(take(cursor), (std::vector<uint64_t>{0x204, 0x205, 0x206, 0x208, 0x209}));
  EXPECT_TRUE(m->vcpu->write_hook_installed());
  ASSERT_TRUE(m->vcpu->set_dirty_tracking(false));
  EXPECT_FALSE(m->vcpu->write_hook_installed());
  EXPECT_FALSE(m->memory.dirty_log().has_collector());
}

// mov eax, 1; add eax, 2; mov dword ptr [0x10], eax (the null page: unmapped)
constexpr uint8_t kStoreToNullPage[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0x83, 0xc0, 0x02,
                                        0x89, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00};
// The write hook that tracks dirty pages replaces the never-matching one that keeps RIP exact at
// stores (docs/vcpu-facts.md); either way a faulting store must name its own instruction.
// Unicorn decides that when it translates a block, so each call runs a copy never run before.
uint64_t offset_of_faulting_store(Machine& m, uint64_t copy) {
  const uint64_t at = kCode + 0x100 * copy;
  EXPECT_TRUE(m.memory.write(at, kStoreToNullPage).has_value());
  EXPECT_TRUE(m.vcpu->set_registers(initial_registers(at)).has_value());
  const VcpuExit exit = m.vcpu->run({});
  EXPECT_EQ(exit.kind, ExitKind::kException) << exit.detail;
  EXPECT_EQ(exit.vector, kPageFault);
  auto regs = m.vcpu->registers();
  EXPECT_TRUE(regs.has_value());
  return regs ? regs->rip - at : 0;
}

TEST(UnicornDirtyPages, AFaultingStoreNamesItsInstructionBeforeDuringAndAfterTracking) {
  auto m = boot(kStoreToNullPage);
  ASSERT_TRUE(m);
  constexpr uint64_t kStoreOffset = 8;
  EXPECT_EQ(offset_of_faulting_store(*m, 1), kStoreOffset);
  ASSERT_TRUE(m->vcpu->set_dirty_tracking(true));
  auto cursor = m->memory.dirty_log().open();
  EXPECT_EQ(offset_of_faulting_store(*m, 2), kStoreOffset);
  take(cursor);
  ASSERT_TRUE(m->vcpu->write_hook_installed());
  EXPECT_EQ(offset_of_faulting_store(*m, 3), kStoreOffset);
  ASSERT_TRUE(m->vcpu->set_dirty_tracking(false));
  ASSERT_FALSE(m->vcpu->write_hook_installed());
  // Twice: Unicorn removes a deleted hook only when the run after its deletion ends.
  EXPECT_EQ(offset_of_faulting_store(*m, 4), kStoreOffset);
  EXPECT_EQ(offset_of_faulting_store(*m, 5), kStoreOffset);
}

}  // namespace
}  // namespace hlrr::vmm
