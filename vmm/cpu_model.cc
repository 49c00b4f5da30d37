#include "vmm/cpu_model.h"

#include <unicorn/unicorn.h>

#include <string>

namespace hlrr::vmm {
namespace {

constexpr uint64_t kCodeAddress = 0x1000;
constexpr uint8_t kCpuid[] = {0x0F, 0xA2};
// Bounds on subleaf enumeration, so a model that never reports "last subleaf" cannot loop.
constexpr uint32_t kMaxSubleaves = 64;

class ScratchEngine {
 public:
  ~ScratchEngine() {
    if (uc_) uc_close(uc_);
  }
  base::Status open() {
    if (uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc_); err != UC_ERR_OK) {
      uc_ = nullptr;
      return base::fail(std::string("unicorn: cannot create engine: ") + uc_strerror(err));
    }
    if (uc_mem_map(uc_, kCodeAddress, 0x1000, UC_PROT_ALL) != UC_ERR_OK ||
        uc_mem_write(uc_, kCodeAddress, kCpuid, sizeof kCpuid) != UC_ERR_OK) {
      return base::fail("unicorn: cannot map the cpuid scratch page");
    }
    return {};
  }
  base::Expected<CpuidEntry> cpuid(uint32_t function, uint32_t index) {
    uint64_t rax = function, rcx = index, zero = 0;
    uc_reg_write(uc_, UC_X86_REG_RAX, &rax);
    uc_reg_write(uc_, UC_X86_REG_RCX, &rcx);
    uc_reg_write(uc_, UC_X86_REG_RBX, &zero);
    uc_reg_write(uc_, UC_X86_REG_RDX, &zero);
    if (uc_err err = uc_emu_start(uc_, kCodeAddress, kCodeAddress + sizeof kCpuid, 0, 0);
        err != UC_ERR_OK) {
      return base::fail(std::string("unicorn: cpuid failed: ") + uc_strerror(err));
    }
    uint64_t a = 0, b = 0, c = 0, d = 0;
    uc_reg_read(uc_, UC_X86_REG_RAX, &a);
    uc_reg_read(uc_, UC_X86_REG_RBX, &b);
    uc_reg_read(uc_, UC_X86_REG_RCX, &c);
    uc_reg_read(uc_, UC_X86_REG_RDX, &d);
    return CpuidEntry{function,
                      index,
                      static_cast<uint32_t>(a),
                      static_cast<uint32_t>(b),
                      static_cast<uint32_t>(c),
                      static_cast<uint32_t>(d)};
  }

 private:
  uc_engine* uc_ = nullptr;
};

// Whether subleaf `index` of `function` is the last one to record (given its answer `e`).
bool past_last_subleaf(const CpuidEntry& e, uint32_t max_index_from_leaf0) {
  switch (e.function) {
    case 0x4:
    case 0x8000001D:
      return (e.eax & 0x1F) == 0;  // cache type "null": no more caches
    case 0x7:
      return e.index > max_index_from_leaf0;
    case 0xB:
      return e.index > 0 && ((e.ecx >> 8) & 0xFF) == 0;  // level type "invalid"
    default:  // 0xD: components 0 and 1 always, then those the model reports
      return false;
  }
}

base::Expected<std::vector<CpuidEntry>> compute() {
  ScratchEngine engine;
  if (auto st = engine.open(); !st) return base::Unexpected(std::move(st).error());
  std::vector<CpuidEntry> table;
  for (uint32_t base : {0x0u, 0x80000000u}) {
    auto top = engine.cpuid(base, 0);
    if (!top) return base::Unexpected(std::move(top).error());
    const uint32_t last = top->eax;
    if (base != 0 && (last < base || last > base + 0xFF)) continue;  // no extended leaves
    for (uint32_t function = base; function <= last; ++function) {
      if (!cpuid_leaf_has_subleaves(function)) {
        auto e = engine.cpuid(function, 0);
        if (!e) return base::Unexpected(std::move(e).error());
        table.push_back(*e);
        continue;
      }
      uint32_t max_index = 0;
      for (uint32_t index = 0; index < kMaxSubleaves; ++index) {
        auto e = engine.cpuid(function, index);
        if (!e) return base::Unexpected(std::move(e).error());
        if (index == 0) max_index = e->eax;
        if (past_last_subleaf(*e, max_index)) {
          // Record the terminating subleaf of cache/topology enumerations: guests read it.
          if (function != 0x7) table.push_back(*e);
          break;
        }
        const bool empty = e->eax == 0 && e->ebx == 0 && e->ecx == 0 && e->edx == 0;
        if (function == 0xD && index > 1 && empty) continue;
        table.push_back(*e);
      }
    }
  }
  return table;
}

}  // namespace

bool cpuid_leaf_has_subleaves(uint32_t function) {
  switch (function) {
    case 0x4:
    case 0x7:
    case 0xB:
    case 0xD:
    case 0xF:
    case 0x10:
    case 0x12:
    case 0x14:
    case 0x17:
    case 0x18:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case 0x20:
    case 0x8000001D:
    case 0x80000020:
      return true;
    default:
      return false;
  }
}

base::Expected<std::vector<CpuidEntry>> canonical_cpuid() {
  static const base::Expected<std::vector<CpuidEntry>> table = compute();  // thread-safe init
  return table;
}

}  // namespace hlrr::vmm
