#include "vmm/long_mode.h"

#include <array>
#include <cstring>
#include <vector>

#include "hl_abi.h"

namespace hlrr::vmm {
namespace {

constexpr uint64_t kPml4 = HL_PAGE_TABLES_BASE;
constexpr uint64_t kPdpt = HL_PAGE_TABLES_BASE + 0x1000;
constexpr uint64_t kPd = HL_PAGE_TABLES_BASE + 0x2000;  // 4 pages, one per GiB
constexpr uint64_t kPt = HL_PAGE_TABLES_BASE + 0x6000;  // the first 2 MiB in 4 KiB pages
constexpr uint64_t kTable = kPtePresent | kPteWritable | kPteAccessed;
constexpr uint64_t kLeaf = kPtePresent | kPteWritable | kPteAccessed | kPteDirty;

base::Status write_u64s(GuestMemory& memory, uint64_t gpa, const std::vector<uint64_t>& values) {
  return memory.write(gpa, std::span(reinterpret_cast<const uint8_t*>(values.data()),
                                     values.size() * sizeof(uint64_t)));
}

}  // namespace

bool unmapped_in_guest(uint64_t address, uint64_t size) {
  const auto overlaps = [&](uint64_t page) {
    return size > 0 && address < page + HL_PAGE_SIZE && page < address + size;
  };
  return overlaps(0) || overlaps(HL_STACK_GUARD);
}

bool vector_has_error_code(uint8_t vector) {
  switch (vector) {
    case 8:
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
    case 17:
    case 21:
    case 29:
    case 30:
      return true;
    default:
      return false;
  }
}

base::Status write_page_tables(GuestMemory& memory) {
  std::vector<uint64_t> pml4(512, 0), pdpt(512, 0), pd(4 * 512, 0), pt(512, 0);
  pml4[0] = kPdpt | kTable;
  for (uint64_t i = 0; i < 4; ++i) pdpt[i] = (kPd + i * 0x1000) | kTable;
  pd[0] = kPt | kTable;
  for (uint64_t i = 1; i < pd.size(); ++i) pd[i] = (i << 21) | kLeaf | kPteLarge;
  for (uint64_t i = 0; i < 512; ++i) {
    const uint64_t gpa = i << 12;
    const bool hole = gpa == 0 || gpa == HL_STACK_GUARD;
    pt[i] = hole ? 0 : (gpa | kLeaf);
  }
  for (auto [gpa, table] : {std::pair{kPml4, &pml4}, {kPdpt, &pdpt}, {kPd, &pd}, {kPt, &pt}}) {
    if (auto st = write_u64s(memory, gpa, *table); !st) return st;
  }
  return {};
}

base::Status write_descriptor_tables(GuestMemory& memory) {
  // GDT: accessed bits pre-set so that loading a selector never writes the GDT.
  const uint64_t tss_low = kTssLimit | ((HL_TSS_BASE & 0xFFFFFF) << 16) | (0x89ull << 40) |
                           (((HL_TSS_BASE >> 24) & 0xFF) << 56);
  const std::vector<uint64_t> gdt = {0, 0x00AF9B000000FFFFull, 0x00CF93000000FFFFull, tss_low,
                                     HL_TSS_BASE >> 32};
  if (auto st = write_u64s(memory, HL_GDT_BASE, gdt); !st) return st;

  // 64-bit TSS: only IST1 matters (offset 0x24); no I/O permission bitmap.
  std::array<uint8_t, kTssLimit + 1> tss{};
  const uint64_t ist1 = HL_EXCEPTION_STACK_TOP;
  std::memcpy(&tss[0x24], &ist1, sizeof ist1);
  const uint16_t iopb = kTssLimit + 1;
  std::memcpy(&tss[0x66], &iopb, sizeof iopb);
  if (auto st = memory.write(HL_TSS_BASE, tss); !st) return st;

  std::vector<uint64_t> idt(32 * 2, 0);
  std::vector<uint8_t> stubs(32 * HL_EXCEPTION_STUB_SIZE, 0xF4);  // hlt padding
  for (uint8_t v = 0; v < 32; ++v) {
    const uint64_t handler = HL_EXCEPTION_STUBS_BASE + v * HL_EXCEPTION_STUB_SIZE;
    // Interrupt gate, present, DPL 0, IST 1.
    idt[v * 2] = (handler & 0xFFFF) | (uint64_t{kCodeSelector} << 16) | (1ull << 32) |
                 (0x8Eull << 40) | (((handler >> 16) & 0xFFFF) << 48);
    idt[v * 2 + 1] = handler >> 32;
    std::vector<uint8_t> code;
    if (!vector_has_error_code(v)) code.insert(code.end(), {0x6A, 0x00});  // push 0
    code.insert(code.end(), {0x50, 0x52, 0xB0, v});  // push rax; push rdx; mov al, v
    code.insert(code.end(), {0x66, 0xBA, HL_PORT_EXCEPTION & 0xFF, HL_PORT_EXCEPTION >> 8});
    code.insert(code.end(), {0xEE, 0xF4, 0xEB, 0xFD});  // out dx, al; 1: hlt; jmp 1b
    std::copy(code.begin(), code.end(), stubs.begin() + v * HL_EXCEPTION_STUB_SIZE);
  }
  if (auto st = write_u64s(memory, HL_IDT_BASE, idt); !st) return st;
  return memory.write(HL_EXCEPTION_STUBS_BASE, stubs);
}

RegisterFile initial_registers(uint64_t entry) {
  RegisterFile r;
  r.rip = entry;
  r.rsp = HL_STACK_TOP;
  r.rflags = 0x2;
  r.cs = kCodeSelector;
  r.ss = r.ds = r.es = r.fs = r.gs = kDataSelector;
  r.cr0 = 0x80050033;  // PG | AM | WP | NE | ET | MP | PE
  r.cr3 = kPml4;
  r.cr4 = 0x620;   // OSXMMEXCPT | OSFXSR | PAE
  r.efer = 0x500;  // LMA | LME
  r.fcw = 0x37F;
  r.ftw = 0xFFFF;  // full tag word: every x87 register empty, as after FNINIT
  r.mxcsr = 0x1F80;
  return r;
}

}  // namespace hlrr::vmm
