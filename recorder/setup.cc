#include "recorder/setup.h"

#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/hex.h"
#include "hl_abi.h"
#include "recorder/convert.h"
#include "vmm/cpu_model.h"

namespace hlrr::recorder {
namespace {

using base::hex;

base::Expected<trace::CpuModel> cpu_model() {
  auto table = vmm::canonical_cpuid();
  if (!table) return base::Unexpected(std::move(table).error());
  trace::CpuModel model;
  for (const auto& e : *table) {
    model.cpuid.push_back(trace::CpuidLeaf{e.function, e.index, e.eax, e.ebx, e.ecx, e.edx});
    if (e.function == 0) {
      char vendor[13] = {};
      std::memcpy(vendor, &e.ebx, 4);
      std::memcpy(vendor + 4, &e.edx, 4);
      std::memcpy(vendor + 8, &e.ecx, 4);
      model.vendor = vendor;
    }
  }
  return model;
}

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::vector<trace::MemoryRegion> memory_layout(const vmm::ElfImage& image, uint64_t memory_size) {
  using trace::kPermExecute, trace::kPermRead, trace::kPermWrite;
  constexpr uint8_t kRw = kPermRead | kPermWrite;
  std::vector<trace::MemoryRegion> regions = {
      {0, HL_PAGE_SIZE, "null page", 0},
      {HL_PAGE_TABLES_BASE, HL_GDT_BASE - HL_PAGE_TABLES_BASE, "page tables", kRw},
      {HL_GDT_BASE, HL_TSS_BASE - HL_GDT_BASE, "gdt", kRw},
      {HL_TSS_BASE, HL_IDT_BASE - HL_TSS_BASE, "tss", kRw},
      {HL_IDT_BASE, HL_EXCEPTION_STUBS_BASE - HL_IDT_BASE, "idt", kRw},
      {HL_EXCEPTION_STUBS_BASE, HL_PAGE_SIZE, "exception stubs", kPermRead | kPermExecute},
      {HL_EXCEPTION_STUBS_BASE + HL_PAGE_SIZE,
       HL_EXCEPTION_STACK_TOP - HL_EXCEPTION_STUBS_BASE - HL_PAGE_SIZE, "exception stack", kRw},
      {HL_CALL_AREA, HL_AREA_SIZE, "call area", kRw},
      {HL_REPLY_AREA, HL_AREA_SIZE, "reply area", kRw},
      {HL_OUT_AREA, HL_OUT_AREA_SIZE, "out area", kRw},
      {HL_STACK_GUARD, HL_PAGE_SIZE, "stack guard", 0},
      {HL_STACK_GUARD + HL_PAGE_SIZE, HL_STACK_TOP - HL_STACK_GUARD - HL_PAGE_SIZE, "stack", kRw},
  };
  int index = 0;
  for (const auto& seg : image.segments()) {
    uint8_t perms = kPermRead;
    if (seg.writable) perms |= kPermWrite;
    if (seg.executable) perms |= kPermExecute;
    regions.push_back(
        {seg.vaddr, seg.memory_size, "image segment " + std::to_string(index++), perms});
  }
  const uint64_t heap = (image.image_end() + HL_PAGE_SIZE - 1) & ~(HL_PAGE_SIZE - 1);
  if (heap < memory_size) regions.push_back({heap, memory_size - heap, "heap", kRw});
  return regions;
}

base::Expected<trace::Setup> build_setup(vmm::Sandbox& sandbox, const std::string& guest_name) {
  auto regs = sandbox.vcpu().registers();
  if (!regs) return base::Unexpected(std::move(regs).error());
  const uint8_t* base = sandbox.memory().host_base();
  return build_setup_from(sandbox, guest_name, to_trace(*regs), {base, sandbox.memory().size()});
}

base::Expected<trace::Setup> build_setup_from(vmm::Sandbox& sandbox, const std::string& guest_name,
                                              const trace::Registers& registers,
                                              std::span<const uint8_t> memory) {
  HLRR_CHECK(memory.size() == sandbox.memory().size());
  trace::Setup setup;
  const auto bytes = sandbox.image().bytes();
  setup.elf.assign(bytes.begin(), bytes.end());
  setup.guest_name = guest_name;
  const auto& config = sandbox.config();
  setup.config.memory_size = sandbox.memory().size();
  setup.config.timeout_ms = static_cast<uint64_t>(config.timeout.count());
  setup.config.extra = {
      {"abi_version", std::to_string(HL_ABI_VERSION)},
      // "loaded": at the ELF entry, the initialisation (call "") comes first in the trace;
      // "initialized": idle after hl_main(), the next record is a CallStart.
      {"state", sandbox.initialized() ? "initialized" : "loaded"},
      {"dispatch_address", hex(sandbox.dispatch_address())},
  };
  setup.backend = std::string(sandbox.vcpu().backend_name());
  auto cpu = cpu_model();
  if (!cpu) return base::Unexpected(std::move(cpu).error());
  setup.cpu = std::move(*cpu);
  setup.memory_layout = memory_layout(sandbox.image(), sandbox.memory().size());
  setup.initial_registers = registers;
  static const uint8_t kZero[HL_PAGE_SIZE] = {};
  const uint64_t pages = memory.size() / HL_PAGE_SIZE;
  // Guest memory itself: the pages never touched are zeros without reading them (a copy, as
  // the flight recorder's, is read whole).
  const std::vector<bool> backed = memory.data() == sandbox.memory().host_base()
                                       ? sandbox.memory().backed_pages()
                                       : std::vector<bool>(pages, true);
  for (uint64_t page = 0; page < pages; ++page) {
    if (!backed[page]) continue;
    const uint8_t* p = memory.data() + page * HL_PAGE_SIZE;
    if (std::memcmp(p, kZero, HL_PAGE_SIZE) == 0) continue;
    setup.initial_memory.push_back(trace::Page{page * HL_PAGE_SIZE, {p, p + HL_PAGE_SIZE}});
  }
  setup.hlrr_version = "hlrr 0.1.0";
  setup.start_time_ns = now_ns();
  return setup;
}

std::vector<std::string> kvm_nondet_warnings(const vmm::ElfImage& image,
                                             const std::string& guest_name) {
  std::vector<std::string> lines;
  for (const auto& site : image.instruction_sites()) {
    if (site.kind < vmm::SiteKind::kRdtsc || site.kind > vmm::SiteKind::kRdseed) continue;
    std::string where = image.symbols().describe(site.address);
    lines.push_back(guest_name + ": " + vmm::to_string(site.kind) + " at " + hex(site.address) +
                    (where.empty() ? "" : " in " + where) +
                    " cannot be recorded on KVM; replay will diverge (use --vcpu unicorn)");
  }
  return lines;
}

}  // namespace hlrr::recorder
