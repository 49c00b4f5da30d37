#include "vmm/kvm_vcpu.h"

#include <capstone/capstone.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>

#include "hl_abi.h"
#include "vmm/cpu_model.h"
#include "vmm/long_mode.h"

namespace hlrr::vmm {
namespace {

constexpr int kKvmApiVersion = 12;
constexpr uint64_t kRflagsTrap = 1ull << 8;     // TF
constexpr uint64_t kRflagsResume = 1ull << 16;  // RF
constexpr uint8_t kHltOpcode = 0xF4;
constexpr uint64_t kStubsEnd = HL_EXCEPTION_STUBS_BASE + 32 * HL_EXCEPTION_STUB_SIZE;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

int retry_ioctl(int fd, unsigned long request, unsigned long arg) {
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

template <class T>
int retry_ioctl(int fd, unsigned long request, T* arg) {
  return retry_ioctl(fd, request, reinterpret_cast<unsigned long>(arg));
}

// The signal request_stop() sends to kick the vCPU thread out of KVM_RUN. Its handler does
// nothing: the point is that KVM_RUN returns EINTR.
int kick_signal() {
  return SIGRTMIN + 3;
}

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // KVM_RUN still returns EINTR; other syscalls restart
    sigaction(kick_signal(), &action, nullptr);
  });
}

void unblock_kick_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kick_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

kvm_segment code_segment() {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xFFFFFFFF;
  s.selector = kCodeSelector;
  s.type = 11;  // execute/read, accessed
  s.present = 1;
  s.s = 1;
  s.l = 1;
  s.g = 1;
  return s;
}

kvm_segment data_segment(uint16_t selector) {
  kvm_segment s{};
  if (selector == 0) {
    s.unusable = 1;
    return s;
  }
  s.limit = 0xFFFFFFFF;
  s.selector = selector;
  s.type = 3;  // read/write, accessed
  s.present = 1;
  s.s = 1;
  s.db = 1;
  s.g = 1;
  return s;
}

// x87 tag word: KVM (FXSAVE) keeps the abridged form (1 bit per physical register: valid), the
// register file the full one (2 bits: 00 valid, 01 zero, 10 special, 11 empty), as Unicorn
// reports it. Both are indexed by physical register R(i); FXSAVE's fpr[] holds ST(j) =
// R((top + j) mod 8), so R(i)'s contents are fpr[(i - top) mod 8].
uint16_t full_tag_word(uint8_t abridged, const uint8_t (&fpr)[8][16], int top) {
  uint16_t full = 0;
  for (int i = 7; i >= 0; --i) {
    full <<= 2;
    if (!(abridged & (1u << i))) {
      full |= 3;
      continue;
    }
    const uint8_t* reg = fpr[(i - top) & 7];
    uint64_t mantissa;
    uint16_t exponent;
    std::memcpy(&mantissa, reg, 8);
    std::memcpy(&exponent, reg + 8, 2);
    exponent &= 0x7FFF;
    if (exponent == 0 && mantissa == 0) {
      full |= 1;
    } else if (exponent == 0 || exponent == 0x7FFF || !(mantissa >> 63)) {
      full |= 2;
    }
  }
  return full;
}

uint8_t abridged_tag_word(uint16_t full) {
  uint8_t abridged = 0;
  for (int i = 0; i < 8; ++i) {
    if (((full >> (2 * i)) & 3) != 3) abridged |= 1u << i;
  }
  return abridged;
}

// "addps xmm0, xmm1", or "" when the bytes do not decode.
std::string disassemble_one(std::span<const uint8_t> bytes, uint64_t address) {
  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return "";
  cs_insn* insn = nullptr;
  std::string text;
  if (cs_disasm(handle, bytes.data(), bytes.size(), address, 1, &insn) == 1) {
    text = insn->mnemonic;
    if (insn->op_str[0]) text += std::string(" ") + insn->op_str;
    cs_free(insn, 1);
  }
  cs_close(&handle);
  return text;
}

// The value of a 64-bit register in an address (RIP: the address after the instruction; no
// register: 0), or nullopt for one this decoder does not follow.
std::optional<uint64_t> gpr_value(const kvm_regs& r, unsigned reg, uint64_t next_rip) {
  switch (reg) {
    case X86_REG_INVALID:
      return 0;
    case X86_REG_RIP:
      return next_rip;
    case X86_REG_RAX:
      return r.rax;
    case X86_REG_RCX:
      return r.rcx;
    case X86_REG_RDX:
      return r.rdx;
    case X86_REG_RBX:
      return r.rbx;
    case X86_REG_RSP:
      return r.rsp;
    case X86_REG_RBP:
      return r.rbp;
    case X86_REG_RSI:
      return r.rsi;
    case X86_REG_RDI:
      return r.rdi;
    case X86_REG_R8:
      return r.r8;
    case X86_REG_R9:
      return r.r9;
    case X86_REG_R10:
      return r.r10;
    case X86_REG_R11:
      return r.r11;
    case X86_REG_R12:
      return r.r12;
    case X86_REG_R13:
      return r.r13;
    case X86_REG_R14:
      return r.r14;
    case X86_REG_R15:
      return r.r15;
    default:
      return std::nullopt;
  }
}

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

base::Status KvmVcpu::flush_state() {
  // Written through ioctls even with sync regs when something (KVM_SET_GUEST_DEBUG) must see
  // the new state before the next KVM_RUN.
  if (regs_dirty_ && retry_ioctl(vcpu_fd_, KVM_SET_REGS, &regs()) < 0) {
    return base::fail(errno_text("KVM_SET_REGS", errno));
  }
  if (sregs_dirty_ && retry_ioctl(vcpu_fd_, KVM_SET_SREGS, &sregs()) < 0) {
    return base::fail(errno_text("KVM_SET_SREGS", errno));
  }
  regs_dirty_ = sregs_dirty_ = false;
  return {};
}

base::Status KvmVcpu::load_state() {
  if (sync_regs_) return {};
  if (retry_ioctl(vcpu_fd_, KVM_GET_REGS, &regs_copy_) < 0) {
    return base::fail(errno_text("KVM_GET_REGS", errno));
  }
  if (retry_ioctl(vcpu_fd_, KVM_GET_SREGS, &sregs_copy_) < 0) {
    return base::fail(errno_text("KVM_GET_SREGS", errno));
  }
  return {};
}

base::Status KvmVcpu::set_guest_debug(bool single_step) {
  // KVM remembers the RIP at KVM_SET_GUEST_DEBUG and sets TF only while the vCPU is there, so
  // pending register writes go in first, and the ioctl is repeated before every step.
  if (auto st = flush_state(); !st) return st;
  kvm_guest_debug debug{};
  if (single_step || !cpuid_sites_.empty()) debug.control = KVM_GUESTDBG_ENABLE;
  if (single_step) debug.control |= KVM_GUESTDBG_SINGLESTEP;
  if (!cpuid_sites_.empty()) debug.control |= KVM_GUESTDBG_USE_HW_BP;
  std::vector<uint64_t> slots = cpuid_sites_;
  // A single step never stops at a breakpoint (an instruction breakpoint at RIP would fire
  // before the step executes anything).
  if (!single_step) slots.insert(slots.end(), breakpoints_.begin(), breakpoints_.end());
  if (!slots.empty()) debug.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
  for (size_t i = 0; i < slots.size() && i < 4; ++i) {
    debug.arch.debugreg[i] = slots[i];
    debug.arch.debugreg[7] |= 1ull << (2 * i);  // Li; R/W 00 (execute), LEN 00
  }
  if (retry_ioctl(vcpu_fd_, KVM_SET_GUEST_DEBUG, &debug) < 0) {
    return base::fail(errno_text("KVM_SET_GUEST_DEBUG", errno));
  }
  single_step_ = single_step;
  return {};
}

base::Status KvmVcpu::emulate_cpuid_at(std::vector<uint64_t> addresses) {
  if (addresses.size() > 4) {
    return base::fail("kvm: " + std::to_string(addresses.size()) +
                      " cpuid sites, but only 4 hardware breakpoints to emulate them");
  }
  cpuid_sites_ = std::move(addresses);
  return set_guest_debug(single_step_);
}

bool KvmVcpu::at_cpuid_breakpoint() const {
  // An instruction breakpoint (DR6.Bi) on a cpuid site, not a single-step trap (DR6.BS) that
  // happens to stop there.
  constexpr uint64_t kDr6SingleStep = 1ull << 14;
  const uint64_t dr6 = run_->debug.arch.dr6;
  if (run_->debug.arch.exception != kDebugException || (dr6 & kDr6SingleStep)) return false;
  const uint64_t rip = const_cast<KvmVcpu*>(this)->regs().rip;
  for (size_t i = 0; i < cpuid_sites_.size(); ++i) {
    if ((dr6 & (1ull << i)) && cpuid_sites_[i] == rip) return true;
  }
  return false;
}

void KvmVcpu::emulate_cpuid() {
  // As the software vCPU (qemu) answers: a leaf beyond the basic or the extended range answers
  // as the highest basic leaf; a subleaf the table does not list answers zeros.
  kvm_regs& r = regs();
  uint32_t function = static_cast<uint32_t>(r.rax);
  const uint32_t index = static_cast<uint32_t>(r.rcx);
  uint32_t basic_max = 0, extended_max = 0;
  for (const CpuidEntry& e : cpuid_table_) {
    if (e.function == 0) basic_max = e.eax;
    if (e.function == 0x80000000u) extended_max = e.eax;
  }
  if ((function & 0x80000000u) ? function > extended_max : function > basic_max) {
    function = basic_max;
  }
  CpuidEntry answer{};
  for (const CpuidEntry& e : cpuid_table_) {
    if (e.function == function && (e.index == index || !cpuid_leaf_has_subleaves(function))) {
      answer = e;
      break;
    }
  }
  r.rax = answer.eax, r.rbx = answer.ebx, r.rcx = answer.ecx, r.rdx = answer.edx;
  r.rip += 2;  // 0F A2
  mark_regs_dirty();
}

int KvmVcpu::enter() {
  if (sync_regs_) {
    run_->kvm_dirty_regs =
        (regs_dirty_ ? KVM_SYNC_X86_REGS : 0) | (sregs_dirty_ ? KVM_SYNC_X86_SREGS : 0);
    regs_dirty_ = sregs_dirty_ = false;
  } else if (auto st = flush_state(); !st) {
    return EIO;
  }
  if (!fpu_static_) fpu_valid_ = false;
  const int r = ioctl(vcpu_fd_, KVM_RUN, 0);
  const int err = r < 0 ? errno : 0;
  if (!load_state()) return EIO;
  return err;
}

base::Status KvmVcpu::complete_pending() {
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  const int err = enter();
  if (err == EINTR) return {};
  // Single-stepping: completing the instruction is the step, reported as a debug exit.
  if (err == 0 && run_->exit_reason == KVM_EXIT_DEBUG) return {};
  return base::fail(err ? errno_text("KVM_RUN (completing I/O)", err)
                        : "KVM_RUN (completing I/O): unexpected exit " +
                              std::to_string(run_->exit_reason));
}

VcpuExit KvmVcpu::run(const RunOptions& options) {
  if (options.max_instructions && !options.single_step) {
    // Ignoring the limit could run a guest forever where the caller expects a bound.
    return VcpuExit{.kind = ExitKind::kUnsupported,
                    .detail =
                        "an instruction limit needs an instruction-counting vCPU; KVM "
                        "counts none (run with --vcpu unicorn)"};
  }
  // Arriving at RIP by completing an exit (I/O, hlt) is not a stop there: a breakpoint at RIP
  // then fires (the exit loop runs on without a debugger seeing the exit).
  const bool arrived_by_exit = regs().rip == performed_to_;
  performed_to_ = ~0ull;
  if (!options.single_step && !arrived_by_exit && at_breakpoint(regs().rip)) {
    // Resuming from a breakpoint: execute its instruction first (a DR breakpoint re-fires
    // until RIP moves past it).
    VcpuExit step = run(RunOptions{.single_step = true});
    if (step.kind != ExitKind::kDebug || step.has_debug_point) return step;
  }
  if (options.single_step || single_step_) {
    if (auto st = set_guest_debug(options.single_step); !st) {
      return VcpuExit{.kind = ExitKind::kInternalError, .detail = st.error().message};
    }
  }
  const uint64_t start_rip = regs().rip;
  const pthread_t self = pthread_self();
  if (!pthread_equal(self, thread_)) {
    unblock_kick_signal();
    thread_ = self;
  }
  // Order matters for request_stop(): clear immediate_exit, announce running, then check the
  // flag. A request that misses the flag finds running_ set and immediate_exit re-armed.
  for (;;) {
    __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
    running_.store(true);
    if (stop_requested_.exchange(false)) {
      running_.store(false);
      return VcpuExit{.kind = ExitKind::kStopped};
    }
    const int err = enter();
    running_.store(false);
    const bool interrupted = err == EINTR || (err == 0 && run_->exit_reason == KVM_EXIT_INTR);
    if (!interrupted && err == 0 && run_->exit_reason == KVM_EXIT_DEBUG && at_cpuid_breakpoint()) {
      emulate_cpuid();
      if (options.single_step) return VcpuExit{.kind = ExitKind::kDebug};
      continue;
    }
    if (!interrupted) {
      const VcpuExit exit = translate_exit(err, options, start_rip);
      if (exit.kind == ExitKind::kIoOut || exit.kind == ExitKind::kIoIn ||
          exit.kind == ExitKind::kHalt) {
        performed_to_ = regs().rip;
      }
      return exit;
    }
    if (stop_requested_.exchange(false)) return VcpuExit{.kind = ExitKind::kStopped};
    // Some other signal interrupted KVM_RUN: carry on.
  }
}

VcpuExit KvmVcpu::translate_exit(int err, const RunOptions& options, uint64_t start_rip) {
  if (err) {
    return VcpuExit{.kind = ExitKind::kInternalError, .detail = errno_text("KVM_RUN", err)};
  }
  switch (run_->exit_reason) {
    case KVM_EXIT_IO:
      return io_exit();
    case KVM_EXIT_HLT:
      return VcpuExit{.kind = ExitKind::kHalt};
    case KVM_EXIT_MMIO:
      return mmio_exit();
    case KVM_EXIT_SHUTDOWN:
      return VcpuExit{.kind = ExitKind::kShutdown};
    case KVM_EXIT_DEBUG:
      return debug_exit(options, start_rip);
    case KVM_EXIT_INTERNAL_ERROR:
      if (run_->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) return emulation_failure();
      return VcpuExit{.kind = ExitKind::kInternalError,
                      .detail = "KVM internal error, suberror " +
                                std::to_string(run_->internal.suberror) + " at rip " +
                                hex(regs().rip)};
    case KVM_EXIT_FAIL_ENTRY:
      return VcpuExit{.kind = ExitKind::kInternalError,
                      .detail = "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason " +
                                hex(run_->fail_entry.hardware_entry_failure_reason)};
    default:
      return VcpuExit{.kind = ExitKind::kInternalError,
                      .detail = "unexpected KVM exit reason " + std::to_string(run_->exit_reason) +
                                " at rip " + hex(regs().rip)};
  }
}

VcpuExit KvmVcpu::debug_exit(const RunOptions& options, uint64_t start_rip) {
  // While single-stepping, KVM reports a stepped `hlt` as a debug exit (docs/kvm.md); the
  // software vCPU reports the halt, with RIP after it.
  uint8_t opcode = 0;
  if (options.single_step && memory_.contains(start_rip, 1) &&
      memory_.read(start_rip, std::span(&opcode, 1)) && opcode == kHltOpcode) {
    if (regs().rip != start_rip + 1) {
      regs().rip = start_rip + 1;
      mark_regs_dirty();
    }
    return VcpuExit{.kind = ExitKind::kHalt};
  }
  if (options.single_step && regs().rip >= HL_EXCEPTION_STUBS_BASE && regs().rip < kStubsEnd) {
    // The stepped instruction faulted and KVM stopped at the first instruction of the
    // exception stub: run the stub to its exit, which reports the fault as the software vCPU
    // does. A stop requested meanwhile stays pending for the next run().
    if (auto st = set_guest_debug(false); !st) {
      return VcpuExit{.kind = ExitKind::kInternalError, .detail = st.error().message};
    }
    int err;
    do {
      __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
      err = enter();
    } while (err == EINTR || (err == 0 && run_->exit_reason == KVM_EXIT_INTR));
    return translate_exit(err, RunOptions{}, regs().rip);
  }
  if (options.single_step) return VcpuExit{.kind = ExitKind::kDebug};
  return VcpuExit{.kind = ExitKind::kDebug,
                  .has_address = true,
                  .address = run_->debug.arch.pc,
                  .has_debug_point = at_breakpoint(run_->debug.arch.pc),
                  .debug_point = DebugPointKind::kBreakpoint};
}

bool KvmVcpu::at_breakpoint(uint64_t rip) const {
  return std::find(breakpoints_.begin(), breakpoints_.end(), rip) != breakpoints_.end();
}

namespace {

// The distinct breakpoint addresses of `points`, or nullopt if any is a watchpoint.
std::optional<std::vector<uint64_t>> breakpoints_only(std::span<const DebugPoint> points) {
  std::vector<uint64_t> breakpoints;
  for (const DebugPoint& p : points) {
    if (p.kind != DebugPointKind::kBreakpoint) return std::nullopt;
    if (std::find(breakpoints.begin(), breakpoints.end(), p.address) == breakpoints.end()) {
      breakpoints.push_back(p.address);
    }
  }
  return breakpoints;
}

}  // namespace

bool KvmVcpu::supports_debug_points(std::span<const DebugPoint> points) const {
  const auto breakpoints = breakpoints_only(points);
  return breakpoints && cpuid_sites_.size() + breakpoints->size() <= 4;
}

base::Status KvmVcpu::set_debug_points(std::span<const DebugPoint> points) {
  if (auto st = check_debug_points(points, memory_.size()); !st) return st;
  if (!supports_debug_points(points)) {
    return base::fail(
        "kvm: watchpoints, or more breakpoints than free debug registers, need the software "
        "vCPU");
  }
  breakpoints_ = *breakpoints_only(points);
  return set_guest_debug(single_step_);
}

VcpuExit KvmVcpu::io_exit() {
  const auto io = run_->io;  // copy: completing the I/O reuses kvm_run
  uint8_t* data = reinterpret_cast<uint8_t*>(run_) + io.data_offset;
  // String I/O is refused as on the software vCPU. Its site is at RIP (KVM before completion)
  // or ends there (kvm_pvm moves RIP past an `out` before exiting).
  for (const InstructionSite& site : sites_) {
    const uint64_t rip = regs().rip;
    if (site.kind == SiteKind::kStringIo &&
        (site.address == rip || site.address + site.length == rip)) {
      return VcpuExit{
          .kind = ExitKind::kUnsupported,
          .detail = "`" + site.text + "` at " + hex(site.address) + " is not supported"};
    }
  }
  if (io.count != 1 || (io.size != 1 && io.size != 2 && io.size != 4)) {
    return VcpuExit{.kind = ExitKind::kUnsupported,
                    .detail = "string port I/O at " + hex(regs().rip) + " (port " + hex(io.port) +
                              ") is not supported"};
  }
  if (io.direction == KVM_EXIT_IO_OUT) {
    uint32_t value = 0;
    std::memcpy(&value, data, io.size);
    // KVM finishes the `out` (RIP past it) only at the next KVM_RUN: do it now, so that the
    // register file at the exit is the one the software vCPU shows.
    if (auto st = complete_pending(); !st) {
      return VcpuExit{.kind = ExitKind::kInternalError, .detail = st.error().message};
    }
    const uint64_t rip = regs().rip;
    if (io.port == HL_PORT_EXCEPTION && io.size == 1 && rip > HL_EXCEPTION_STUBS_BASE &&
        rip <= kStubsEnd) {
      return exception_exit(static_cast<uint8_t>(value));
    }
    return VcpuExit{.kind = ExitKind::kIoOut, .port = io.port, .size = io.size, .data = value};
  }
  // `in`: complete it now with the bytes RAX already holds, then put RAX back, so RAX stays
  // untouched until set_io_in_result() (as on the software vCPU).
  const uint64_t rax = regs().rax;
  std::memcpy(data, &rax, io.size);
  if (auto st = complete_pending(); !st) {
    return VcpuExit{.kind = ExitKind::kInternalError, .detail = st.error().message};
  }
  regs().rax = rax;
  mark_regs_dirty();
  pending_in_size_ = io.size;
  return VcpuExit{.kind = ExitKind::kIoIn, .port = io.port, .size = io.size};
}

VcpuExit KvmVcpu::exception_exit(uint8_t vector) {
  auto frame = memory_.read_value<ExceptionFrame>(regs().rsp);
  if (!frame) {
    return VcpuExit{.kind = ExitKind::kInternalError,
                    .detail = "exception " + std::to_string(vector) +
                              ": stub stack unreadable at " + hex(regs().rsp)};
  }
  VcpuExit exit{.kind = ExitKind::kException,
                .vector = vector,
                .error_code = static_cast<uint32_t>(frame->error_code)};
  if (vector == kPageFault) {
    exit.has_address = true;
    exit.address = sregs().cr2;
  }
  // Back to the faulting instruction's state. The CPU sets RF in the pushed RFLAGS of a fault;
  // it is not part of the state the instruction saw.
  kvm_regs& r = regs();
  r.rip = frame->rip;
  r.rsp = frame->rsp;
  r.rflags = frame->rflags & ~kRflagsResume;
  r.rax = frame->saved_rax;
  r.rdx = frame->saved_rdx;
  mark_regs_dirty();
  if (frame->cs != sregs().cs.selector || frame->ss != sregs().ss.selector) {
    return VcpuExit{.kind = ExitKind::kInternalError,
                    .detail = "exception " + std::to_string(vector) + " from cs " + hex(frame->cs) +
                              " / ss " + hex(frame->ss) + ", which hlrr's GDT does not run"};
  }
  return exit;
}

VcpuExit KvmVcpu::mmio_exit() {
  const uint64_t address = run_->mmio.phys_addr;
  const bool is_write = run_->mmio.is_write;
  const uint32_t length = run_->mmio.len;
  // KVM exits in the middle of emulating the access. Keep the state at the exit, let KVM finish
  // its half-done emulation (reads get zeros) and put the state back, so that nothing of the
  // access lands in registers.
  const kvm_regs saved = regs();
  std::memset(run_->mmio.data, 0, sizeof run_->mmio.data);
  if (auto st = complete_pending(); !st) {
    return VcpuExit{.kind = ExitKind::kInternalError, .detail = st.error().message};
  }
  regs() = saved;
  // For a read RIP is still at the instruction; for a write KVM has already moved it past
  // (measured, docs/kvm.md): find the store that ends there.
  if (is_write) {
    if (auto start = store_start(saved, address, length)) regs().rip = *start;
  }
  mark_regs_dirty();
  return VcpuExit{.kind = ExitKind::kOutOfBounds, .has_address = true, .address = address};
}

std::optional<uint64_t> KvmVcpu::store_start(const kvm_regs& r, uint64_t address, uint32_t length) {
  // The instruction that ends at RIP, decodes to exactly the bytes before it, has a memory
  // operand of the access's size and (where its registers say) the access's address. Shortest
  // candidate first; the size and address checks reject shorter decodes of a longer store.
  const uint64_t end = r.rip;
  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return std::nullopt;
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  std::optional<uint64_t> found;
  for (uint64_t n = 1; n <= 15 && n <= end && !found; ++n) {
    const uint64_t start = end - n;
    uint8_t bytes[15];
    if (!memory_.contains(start, n) || !memory_.read(start, std::span(bytes, n))) continue;
    cs_insn* insn = nullptr;
    if (cs_disasm(handle, bytes, n, start, 1, &insn) != 1) continue;
    if (insn->size == n) {
      const cs_x86& x86 = insn->detail->x86;
      for (int i = 0; i < x86.op_count && !found; ++i) {
        const cs_x86_op& op = x86.operands[i];
        if (op.type != X86_OP_MEM || op.size != length) continue;
        const auto base = gpr_value(r, op.mem.base, end);
        const auto index = gpr_value(r, op.mem.index, end);
        if (base && index &&
            *base + *index * static_cast<uint64_t>(op.mem.scale) +
                    static_cast<uint64_t>(op.mem.disp) !=
                address) {
          continue;
        }
        found = start;
      }
    }
    cs_free(insn, 1);
  }
  cs_close(&handle);
  return found;
}

VcpuExit KvmVcpu::emulation_failure() {
  const uint64_t rip = regs().rip;
  uint8_t bytes[15] = {};
  size_t length = 0;
  while (length < sizeof bytes && memory_.contains(rip + length, 1)) ++length;
  std::string text;
  if (length && memory_.read(rip, std::span(bytes, length))) {
    text = disassemble_one(std::span<const uint8_t>(bytes, length), rip);
  }
  if (text.empty()) text = "the instruction";
  return VcpuExit{.kind = ExitKind::kUnsupported,
                  .detail = "`" + text + "` at " + hex(rip) +
                            ": this KVM cannot execute it (emulation failure); run with --vcpu "
                            "unicorn"};
}

void KvmVcpu::request_stop() {
  stop_requested_.store(true);
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (running_.load()) pthread_kill(thread_, kick_signal());
}

void KvmVcpu::set_io_in_result(uint32_t value) {
  auto& rax = regs().rax;
  switch (pending_in_size_) {
    case 1:
      rax = (rax & ~0xFFull) | (value & 0xFF);
      break;
    case 2:
      rax = (rax & ~0xFFFFull) | (value & 0xFFFF);
      break;
    default:
      rax = value;
      break;  // a 32-bit write zero-extends into RAX
  }
  mark_regs_dirty();
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

base::Expected<RegisterFile> KvmVcpu::registers() {
  RegisterFile r;
  const kvm_regs& k = regs();
  r.rax = k.rax, r.rcx = k.rcx, r.rdx = k.rdx, r.rbx = k.rbx;
  r.rsp = k.rsp, r.rbp = k.rbp, r.rsi = k.rsi, r.rdi = k.rdi;
  r.r8 = k.r8, r.r9 = k.r9, r.r10 = k.r10, r.r11 = k.r11;
  r.r12 = k.r12, r.r13 = k.r13, r.r14 = k.r14, r.r15 = k.r15;
  r.rip = k.rip;
  r.rflags = k.rflags & ~kRflagsTrap;
  const kvm_sregs& s = sregs();
  r.cs = s.cs.selector, r.ss = s.ss.selector, r.ds = s.ds.selector;
  r.es = s.es.selector, r.fs = s.fs.selector, r.gs = s.gs.selector;
  r.fs_base = s.fs.base;
  r.gs_base = s.gs.base;
  r.cr0 = s.cr0, r.cr2 = s.cr2, r.cr3 = s.cr3, r.cr4 = s.cr4, r.efer = s.efer;
  // The x87/SSE state only changes when the guest runs: read it once per exit.
  if (!fpu_valid_) {
    if (retry_ioctl(vcpu_fd_, KVM_GET_FPU, &fpu_) < 0) {
      return base::fail(errno_text("KVM_GET_FPU", errno));
    }
    fpu_valid_ = true;
  }
  const kvm_fpu& fpu = fpu_;
  r.fcw = fpu.fcw;
  r.fsw = fpu.fsw;
  r.ftw = full_tag_word(fpu.ftwx, fpu.fpr, (fpu.fsw >> 11) & 7);
  r.fop = fpu.last_opcode & 0x7FF;
  r.fip = fpu.last_ip, r.fdp = fpu.last_dp;
  r.mxcsr = mxcsr_readable_ ? fpu.mxcsr : mxcsr_shadow_;
  for (int i = 0; i < 16; ++i) std::memcpy(r.xmm[i].data(), fpu.xmm[i], 16);
  for (int i = 0; i < 8; ++i) std::memcpy(r.st[i].data(), fpu.fpr[i], 10);
  return r;
}

base::Status KvmVcpu::set_registers(const RegisterFile& r) {
  if (r.cs != kCodeSelector) {
    return base::fail("kvm: cs " + hex(r.cs) + " is not hlrr's 64-bit code selector");
  }
  for (uint16_t selector : {r.ss, r.ds, r.es, r.fs, r.gs}) {
    if (selector != 0 && selector != kDataSelector) {
      return base::fail("kvm: data selector " + hex(selector) + " is not in hlrr's GDT");
    }
  }
  kvm_regs& k = regs();
  // Moving RIP (a call's start, gdb's `jump`) is not a stop at the new RIP: a breakpoint there
  // fires on the next run.
  if (k.rip != r.rip) performed_to_ = r.rip;
  k.rax = r.rax, k.rcx = r.rcx, k.rdx = r.rdx, k.rbx = r.rbx;
  k.rsp = r.rsp, k.rbp = r.rbp, k.rsi = r.rsi, k.rdi = r.rdi;
  k.r8 = r.r8, k.r9 = r.r9, k.r10 = r.r10, k.r11 = r.r11;
  k.r12 = r.r12, k.r13 = r.r13, k.r14 = r.r14, k.r15 = r.r15;
  k.rip = r.rip;
  k.rflags = r.rflags | 0x2;
  mark_regs_dirty();

  // Segment state; CR0/CR3/CR4/EFER keep the long-mode values set at creation.
  kvm_sregs& s = sregs();
  const kvm_sregs before = s;
  const std::pair<kvm_segment*, uint16_t> data[] = {
      {&s.ss, r.ss}, {&s.ds, r.ds}, {&s.es, r.es}, {&s.fs, r.fs}, {&s.gs, r.gs}};
  for (auto [segment, selector] : data) {
    if (segment->selector != selector || (selector == 0) != (segment->unusable != 0)) {
      *segment = data_segment(selector);
    }
  }
  s.fs.base = r.fs_base;
  s.gs.base = r.gs_base;
  s.cr2 = r.cr2;
  if (std::memcmp(&before, &s, sizeof s) != 0) mark_sregs_dirty();

  kvm_fpu fpu{};
  fpu.fcw = r.fcw;
  fpu.fsw = r.fsw;
  fpu.ftwx = abridged_tag_word(r.ftw);
  fpu.last_opcode = r.fop, fpu.last_ip = r.fip, fpu.last_dp = r.fdp;
  fpu.mxcsr = r.mxcsr;
  for (int i = 0; i < 16; ++i) std::memcpy(fpu.xmm[i], r.xmm[i].data(), 16);
  for (int i = 0; i < 8; ++i) std::memcpy(fpu.fpr[i], r.st[i].data(), 10);
  // Most register writes (an exit loop's) change only general registers: skip the ioctl then.
  bool same = fpu_valid_ && fpu.fcw == fpu_.fcw && fpu.fsw == fpu_.fsw && fpu.ftwx == fpu_.ftwx &&
              fpu.last_opcode == fpu_.last_opcode && fpu.last_ip == fpu_.last_ip &&
              fpu.last_dp == fpu_.last_dp &&
              (mxcsr_readable_ ? fpu.mxcsr == fpu_.mxcsr : r.mxcsr == mxcsr_shadow_) &&
              std::memcmp(fpu.xmm, fpu_.xmm, sizeof fpu.xmm) == 0;
  for (int i = 0; i < 8 && same; ++i) same = std::memcmp(fpu.fpr[i], fpu_.fpr[i], 10) == 0;
  if (!same) {
    fpu_valid_ = false;
    if (retry_ioctl(vcpu_fd_, KVM_SET_FPU, &fpu) < 0) {
      return base::fail(errno_text("KVM_SET_FPU", errno));
    }
    if (fpu_static_) {
      fpu_ = fpu;
      fpu_valid_ = true;
    }
  }
  mxcsr_shadow_ = r.mxcsr;
  return {};
}

}  // namespace hlrr::vmm
