#include "vmm/kvm_vcpu.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "hl_abi.h"
#include "vmm/cpu_model.h"
#include "vmm/kvm_internal.h"
#include "vmm/long_mode.h"

// KvmVcpu's set-up: the VM, its memory slot and dirty log, CPUID, long mode, first registers.
namespace hlrr::vmm {

using namespace kvm;

namespace {

constexpr int kKvmApiVersion = 12;

}  // namespace

base::Status KvmVcpu::available() {
  const int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return base::fail(errno_text("/dev/kvm", errno));
  const int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  const bool immediate_exit = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) > 0;
  close(fd);
  if (version != kKvmApiVersion) {
    return base::fail("KVM API version " + std::to_string(version) + " unsupported");
  }
  if (!immediate_exit) return base::fail("KVM lacks KVM_CAP_IMMEDIATE_EXIT");
  return {};
}

base::Expected<std::unique_ptr<KvmVcpu>> KvmVcpu::create(GuestMemory& memory,
                                                         std::vector<InstructionSite> sites) {
  if (auto st = available(); !st) return base::Unexpected(std::move(st).error());
  std::unique_ptr<KvmVcpu> vcpu(new KvmVcpu(memory, std::move(sites)));
  if (auto st = vcpu->init(); !st) return base::Unexpected(std::move(st).error());
  return vcpu;
}

KvmVcpu::KvmVcpu(GuestMemory& memory, std::vector<InstructionSite> sites)
    : memory_(memory), sites_(std::move(sites)) {}

KvmVcpu::~KvmVcpu() {
  if (dirty_tracking_) memory_.dirty_log().set_collector(nullptr);
  if (run_) munmap(run_, run_size_);
  for (int fd : {vcpu_fd_, vm_fd_, kvm_fd_}) {
    if (fd >= 0) close(fd);
  }
}

base::Status KvmVcpu::init() {
  install_kick_handler();
  if (auto st = open_vm(); !st) return st;
  if (auto st = install_cpuid(); !st) return st;
  if (auto st = enter_long_mode(); !st) return st;
  return init_registers();
}

base::Status KvmVcpu::open_vm() {
  kvm_fd_ = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_fd_ < 0) return base::fail(errno_text("/dev/kvm", errno));
  vm_fd_ = retry_ioctl(kvm_fd_, KVM_CREATE_VM, 0ul);
  if (vm_fd_ < 0) return base::fail(errno_text("KVM_CREATE_VM", errno));
  if (auto st = set_memory_slot(false); !st) return st;
  vcpu_fd_ = retry_ioctl(vm_fd_, KVM_CREATE_VCPU, 0ul);
  if (vcpu_fd_ < 0) return base::fail(errno_text("KVM_CREATE_VCPU", errno));
  const int size = ioctl(kvm_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < static_cast<int>(sizeof(kvm_run))) {
    return base::fail(errno_text("KVM_GET_VCPU_MMAP_SIZE", errno));
  }
  run_size_ = static_cast<size_t>(size);
  void* run = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd_, 0);
  if (run == MAP_FAILED) return base::fail(errno_text("mmap kvm_run", errno));
  run_ = static_cast<kvm_run*>(run);
  return {};
}

base::Status KvmVcpu::install_cpuid() {
  // CPUID: exactly the software vCPU's model, before the first KVM_RUN.
  auto table = canonical_cpuid();
  if (!table) return base::fail(table.error().message);
  cpuid_table_ = *table;
  std::vector<uint8_t> buffer(sizeof(kvm_cpuid2) + table->size() * sizeof(kvm_cpuid_entry2));
  auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buffer.data());
  cpuid->nent = static_cast<uint32_t>(table->size());
  for (size_t i = 0; i < table->size(); ++i) {
    const CpuidEntry& e = (*table)[i];
    kvm_cpuid_entry2& k = cpuid->entries[i];
    k.function = e.function;
    k.index = e.index;
    k.flags = cpuid_leaf_has_subleaves(e.function) ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
    k.eax = e.eax;
    k.ebx = e.ebx;
    k.ecx = e.ecx;
    k.edx = e.edx;
  }
  if (retry_ioctl(vcpu_fd_, KVM_SET_CPUID2, cpuid) < 0) {
    // kvm_pvm here refuses every CPUID ioctl with EINVAL (docs/kvm.md): run without a table;
    // cpuid_matches_model() says so and emulate_cpuid_at() answers from the table instead.
    if (errno != EINVAL) return base::fail(errno_text("KVM_SET_CPUID2", errno));
    cpuid_installed_ = false;
  }
  return {};
}

base::Status KvmVcpu::enter_long_mode() {
  // Long mode: flat 64-bit code and data from the GDT that write_descriptor_tables() builds,
  // the busy 64-bit TSS (IST1 is the exception stack), the IDT of exception stubs.
  const RegisterFile initial = initial_registers(0);
  kvm_sregs s{};
  if (retry_ioctl(vcpu_fd_, KVM_GET_SREGS, &s) < 0) {
    return base::fail(errno_text("KVM_GET_SREGS", errno));
  }
  s.cs = code_segment();
  s.ds = s.es = s.fs = s.gs = s.ss = data_segment(kDataSelector);
  s.tr = kvm_segment{};
  s.tr.base = HL_TSS_BASE;
  s.tr.limit = kTssLimit;
  s.tr.selector = kTssSelector;
  s.tr.type = 11;  // busy 64-bit TSS
  s.tr.present = 1;
  s.gdt.base = HL_GDT_BASE;
  s.gdt.limit = kGdtLimit;
  s.idt.base = HL_IDT_BASE;
  s.idt.limit = kIdtLimit;
  s.cr0 = initial.cr0;
  s.cr3 = initial.cr3;
  s.cr4 = initial.cr4;
  s.efer = initial.efer;
  if (retry_ioctl(vcpu_fd_, KVM_SET_SREGS, &s) < 0) {
    return base::fail(errno_text("KVM_SET_SREGS", errno));
  }
  return {};
}

base::Status KvmVcpu::init_registers() {
  // Registers travel in kvm_run (no ioctl per exit) when the kernel offers it.
  const int sync = ioctl(kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
  constexpr int kNeeded = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
  sync_regs_ = sync > 0 && (sync & kNeeded) == kNeeded;
  if (sync_regs_) run_->kvm_valid_regs = kNeeded;
  if (retry_ioctl(vcpu_fd_, KVM_GET_SREGS, &sregs()) < 0) {
    return base::fail(errno_text("KVM_GET_SREGS", errno));
  }
  if (retry_ioctl(vcpu_fd_, KVM_GET_REGS, &regs()) < 0) {
    return base::fail(errno_text("KVM_GET_REGS", errno));
  }
  // Fresh vCPU: RIP 0, flags 0x2 and the x87/SSE defaults, as the software vCPU starts.
  if (auto st = set_registers(initial_registers(0)); !st) return st;
  // kvm_pvm here reads MXCSR back as 0 from KVM_GET_FPU whatever was set (and has no
  // KVM_GET_XSAVE): then report the value last set. The guest cannot change MXCSR on such a
  // KVM anyway: `ldmxcsr`/`stmxcsr` end in emulation failures there (docs/kvm.md).
  kvm_fpu fpu{};
  if (retry_ioctl(vcpu_fd_, KVM_GET_FPU, &fpu) < 0) {
    return base::fail(errno_text("KVM_GET_FPU", errno));
  }
  mxcsr_readable_ = fpu.mxcsr == initial_registers(0).mxcsr;
  fpu_valid_ = false;
  return {};
}

base::Status KvmVcpu::set_memory_slot(bool log_dirty) {
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  region.guest_phys_addr = 0;
  region.memory_size = memory_.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(memory_.host_base());
  if (retry_ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    return base::fail(errno_text("KVM_SET_USER_MEMORY_REGION", errno));
  }
  return {};
}

base::Status KvmVcpu::set_dirty_tracking(bool enabled) {
  if (enabled == dirty_tracking_) return {};
  if (auto st = set_memory_slot(enabled); !st) return st;
  dirty_tracking_ = enabled;
  memory_.dirty_log().set_collector(
      enabled ? std::function<base::Status()>([this] { return pull_dirty_log(); }) : nullptr);
  return {};
}

base::Status KvmVcpu::pull_dirty_log() {
  dirty_bitmap_.assign((memory_.page_count() + 63) / 64, 0);
  kvm_dirty_log log{};
  log.slot = 0;
  log.dirty_bitmap = dirty_bitmap_.data();
  // A failure here would lose guest writes a snapshot or a recording needs: it is an error.
  if (retry_ioctl(vm_fd_, KVM_GET_DIRTY_LOG, &log) < 0) {
    return base::fail(errno_text("KVM_GET_DIRTY_LOG", errno));
  }
  for (size_t word = 0; word < dirty_bitmap_.size(); ++word) {
    for (uint64_t bits = dirty_bitmap_[word]; bits; bits &= bits - 1) {
      memory_.dirty_log().mark(word * 64 + static_cast<uint64_t>(__builtin_ctzll(bits)));
    }
  }
  return {};
}

}  // namespace hlrr::vmm
