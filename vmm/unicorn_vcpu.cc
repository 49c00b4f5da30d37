#include "vmm/unicorn_vcpu.h"

#include <unicorn/unicorn.h>

#include <cstdio>

#include "base/check.h"
#include "base/hex.h"
#include "hl_abi.h"
#include "vmm/long_mode.h"

namespace hlrr::vmm {
namespace {

// Never reached as an `until` address: it is not canonical.
constexpr uint64_t kNoUntil = 0x8000000000000000ull;
// A read-hook range no access touches: its only purpose is to make Unicorn keep RIP exact at
// every memory access, so that a fault reports the faulting instruction (see docs/vcpu-facts.md).
constexpr uint64_t kNeverAccessed = 0xFFFFFFFFFFFFF000ull;
constexpr uint64_t kNoTarget = ~0ull;
// The MSRs of `syscall` (perform_syscall()).
constexpr uint32_t kMsrLstar = 0xC0000082, kMsrFmask = 0xC0000084;
// The widest single access a memory hook reports (an SSE load or store; wider instructions
// such as fxsave access memory in pieces).
constexpr uint64_t kMaxAccessSize = 16;

constexpr int kGprs[] = {UC_X86_REG_RAX, UC_X86_REG_RCX,   UC_X86_REG_RDX, UC_X86_REG_RBX,
                         UC_X86_REG_RSP, UC_X86_REG_RBP,   UC_X86_REG_RSI, UC_X86_REG_RDI,
                         UC_X86_REG_R8,  UC_X86_REG_R9,    UC_X86_REG_R10, UC_X86_REG_R11,
                         UC_X86_REG_R12, UC_X86_REG_R13,   UC_X86_REG_R14, UC_X86_REG_R15,
                         UC_X86_REG_RIP, UC_X86_REG_EFLAGS};

uint64_t* gpr_slots(RegisterFile& r, uint64_t** out) {
  uint64_t* slots[] = {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi, &r.r8,
                       &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.rip, &r.rflags};
  for (size_t i = 0; i < std::size(slots); ++i) out[i] = slots[i];
  return out[0];
}

void copy_fpu_state(const RegisterFile& from, RegisterFile& to) {
  to.fcw = from.fcw;
  to.fsw = from.fsw;
  to.ftw = from.ftw;
  to.fop = from.fop, to.fip = from.fip, to.fdp = from.fdp;
  to.mxcsr = from.mxcsr;
  to.xmm = from.xmm;
  to.st = from.st;
}

bool same_fpu_state(const RegisterFile& a, const RegisterFile& b) {
  return a.fcw == b.fcw && a.fsw == b.fsw && a.ftw == b.ftw && a.mxcsr == b.mxcsr &&
         a.fop == b.fop && a.fip == b.fip && a.fdp == b.fdp && a.xmm == b.xmm && a.st == b.st;
}

// The 11-bit x87 opcode of the instruction at `address` (low 3 bits of its D8-DF byte, then the
// ModRM byte), or 0 if that is not an x87 instruction. Unicorn 2.0.1 keeps FIP and FDP but never
// updates FOP (measured: 0 after fldz), so the software vCPU decodes it from the code at FIP.
uint16_t x87_opcode(const GuestMemory& memory, uint64_t address) {
  for (uint64_t i = 0; i < 15; ++i) {  // an instruction is at most 15 bytes
    const auto b = memory.read_value<uint8_t>(address + i);
    if (!b) return 0;
    const bool prefix = (*b >= 0x40 && *b <= 0x4F) || *b == 0x26 || *b == 0x2E || *b == 0x36 ||
                        *b == 0x3E || *b == 0x64 || *b == 0x65 || *b == 0x66 || *b == 0x67 ||
                        *b == 0xF0 || *b == 0xF2 || *b == 0xF3;
    if (prefix) continue;
    const auto modrm = memory.read_value<uint8_t>(address + i + 1);
    if (*b < 0xD8 || *b > 0xDF || !modrm) return 0;
    return static_cast<uint16_t>(((*b & 7) << 8) | *modrm);
  }
  return 0;
}

bool is_canonical(uint64_t address) {
  const int64_t top = static_cast<int64_t>(address) >> 47;
  return top == 0 || top == -1;
}

using base::hex;

}  // namespace

base::Expected<std::unique_ptr<UnicornVcpu>> UnicornVcpu::create(
    GuestMemory& memory, std::vector<InstructionSite> sites) {
  std::unique_ptr<UnicornVcpu> vcpu(new UnicornVcpu(memory, std::move(sites)));
  if (auto st = vcpu->init(); !st) return base::Unexpected(std::move(st).error());
  return vcpu;
}

UnicornVcpu::UnicornVcpu(GuestMemory& memory, std::vector<InstructionSite> sites)
    : memory_(memory),
      sites_(std::move(sites)),
      counter_(std::span<const uint8_t>(memory.host_base(), memory.size())),
      code_log_(memory.size()) {
  for (const auto& site : sites_) site_at_[site.address] = &site;
}

UnicornVcpu::~UnicornVcpu() {
  // The log outlives this vCPU: it must not call a collector that refers to it.
  if (owns_collector_) memory_.dirty_log().set_collector(nullptr);
  if (uc_) uc_close(uc_);
}

base::Status UnicornVcpu::init() {
  if (uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc_); err != UC_ERR_OK) {
    uc_ = nullptr;
    return base::fail(std::string("unicorn: cannot create engine: ") + uc_strerror(err));
  }
  // Guest memory minus the null page and the stack guard page, which stay unmapped so that
  // touching them faults exactly as the page tables make them fault on KVM.
  const uint64_t size = memory_.size();
  const std::pair<uint64_t, uint64_t> regions[] = {{HL_PAGE_SIZE, HL_STACK_GUARD},
                                                   {HL_STACK_GUARD + HL_PAGE_SIZE, size}};
  for (auto [begin, end] : regions) {
    if (end <= begin) continue;
    if (uc_err err =
            uc_mem_map_ptr(uc_, begin, end - begin, UC_PROT_ALL, memory_.host_base() + begin);
        err != UC_ERR_OK) {
      return base::fail(std::string("unicorn: cannot map guest memory: ") + uc_strerror(err));
    }
  }
  uc_x86_mmr gdtr{0, HL_GDT_BASE, kGdtLimit, 0};
  uc_x86_mmr idtr{0, HL_IDT_BASE, kIdtLimit, 0};
  uc_reg_write(uc_, UC_X86_REG_GDTR, &gdtr);
  uc_reg_write(uc_, UC_X86_REG_IDTR, &idtr);

  uc_hook h;
  bool ok = true;
  for (const auto& site : sites_) {
    ok &= uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&on_site), this, site.address,
                      site.address) == UC_ERR_OK;
  }
  ok &= uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&on_unscanned_io), this, 1, 0,
                    UC_X86_INS_OUT) == UC_ERR_OK;
  ok &= uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&on_unscanned_in), this, 1, 0,
                    UC_X86_INS_IN) == UC_ERR_OK;
  ok &= uc_hook_add(uc_, &h, UC_HOOK_INTR, reinterpret_cast<void*>(&on_interrupt), this, 1, 0) ==
        UC_ERR_OK;
  ok &= uc_hook_add(uc_, &h, UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(&on_unmapped), this, 1,
                    0) == UC_ERR_OK;
  ok &= uc_hook_add(uc_, &h, UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(&on_invalid_instruction),
                    this, 1, 0) == UC_ERR_OK;
  // Memory hooks on a page no access touches: their only purpose is to make Unicorn keep RIP
  // exact at every load and store, so that a fault reports the faulting instruction (~2% on a
  // store-heavy guest). While dirty tracking is on, its full-range write hook stands in for the
  // write one (start_write_hook()).
  ok &= uc_hook_add(uc_, &h, UC_HOOK_MEM_READ, reinterpret_cast<void*>(&on_write), this,
                    kNeverAccessed, kNeverAccessed) == UC_ERR_OK;
  ok &= static_cast<bool>(add_exact_rip_write_hook());
  // Instruction counting: nearly free, so always on (one definition of the count everywhere).
  ok &= uc_hook_add(uc_, &h, UC_HOOK_BLOCK, reinterpret_cast<void*>(&on_block), this, 1, 0) ==
        UC_ERR_OK;
  if (!ok) return base::fail("unicorn: cannot install hooks");
  return {};
}

uint64_t UnicornVcpu::read_reg(int reg) {
  uint64_t value = 0;
  uc_reg_read(uc_, reg, &value);
  return value;
}

void UnicornVcpu::write_reg(int reg, uint64_t value) {
  uc_reg_write(uc_, reg, &value);
}

void UnicornVcpu::reset_run_state() {
  hit_ = nullptr;
  pending_site_ = nullptr;
  unscanned_io_ = false;
  unscanned_name_ = nullptr;
  pending_vector_ = -1;
  unmapped_type_ = 0;
  syscall_performed_ = false;
}

VcpuExit UnicornVcpu::run(const RunOptions& options) {
  reset_run_state();
  if (lazy_) lazy_->guest_runs();
  stepping_ = options.single_step;
  if (const StopCause cause = stop_.take(); cause != StopCause::kNone) {
    return VcpuExit{.kind = ExitKind::kStopped, .stop_cause = cause};
  }
  // Resuming from a stop steps over a breakpoint at RIP; arriving there by completing an exit
  // is not a stop at it (the exit loop runs on without a debugger seeing it).
  const uint64_t rip = read_reg(UC_X86_REG_RIP);
  skip_breakpoint_at_ = rip == performed_to_ ? ~0ull : rip;
  performed_to_ = ~0ull;
  // Unicorn's own `count` is never used: it is ~11x slower and one-way (docs/vcpu-facts.md).
  // Limits and single steps stop at exact counts from the block counter instead.
  uint64_t limit = options.single_step ? 1 : options.max_instructions;
  for (;;) {
    const uint64_t before = counter_.count();
    VcpuExit exit = run_counted(limit, options);
    if (!syscall_performed_) return exit;
    // A `syscall` entered the guest's handler (perform_syscall()): no exit, run on as the CPU
    // does, unless it was the last instruction allowed. A breakpoint at LSTAR is a stop.
    const uint64_t ran = counter_.count() - before;
    if (limit != 0) {
      if (ran >= limit) {
        return VcpuExit{.kind =
                            options.single_step ? ExitKind::kDebug : ExitKind::kInstructionLimit};
      }
      limit -= ran;
    }
    reset_run_state();
    skip_breakpoint_at_ = ~0ull;
    performed_to_ = ~0ull;
    if (const StopCause cause = stop_.take(); cause != StopCause::kNone) {
      return VcpuExit{.kind = ExitKind::kStopped, .stop_cause = cause};
    }
  }
}

// `syscall` as the CPU performs it in 64-bit mode (Unicorn 2.0.1 skips it): #UD when not
// enabled; RCX = the next RIP, R11 = RFLAGS, RFLAGS &= ~FMASK, RIP = LSTAR. CS and SS are
// left alone: a guest's STAR names the selectors it already runs with (guest/runtime/libc).
VcpuExit UnicornVcpu::perform_syscall(const InstructionSite& site) {
  const auto msr = [this](uint32_t index) {
    uc_x86_msr m{index, 0};
    uc_reg_read(uc_, UC_X86_REG_MSR, &m);
    return m.value;
  };
  // Unicorn's model ignores a guest's write of EFER.SCE (its CPUID lacks the SYSCALL bit), so
  // a guest that never set LSTAR stands for one that never enabled `syscall`.
  const uint64_t lstar = msr(kMsrLstar);
  if (lstar == 0) return VcpuExit{.kind = ExitKind::kException, .vector = kInvalidOpcode};
  const uint64_t rflags = read_reg(UC_X86_REG_RFLAGS);
  write_reg(UC_X86_REG_RCX, site.address + site.length);
  write_reg(UC_X86_REG_R11, rflags);
  write_reg(UC_X86_REG_RFLAGS, rflags & ~msr(kMsrFmask));
  write_reg(UC_X86_REG_RIP, lstar);
  syscall_performed_ = true;
  return VcpuExit{.kind = ExitKind::kDebug};  // not returned: run() runs on
}

VcpuExit UnicornVcpu::run_counted(uint64_t limit, const RunOptions& options) {
  target_ = limit ? counter_.count() + limit : kNoTarget;
  block_stop_ = BlockStop::kNone;
  uc_err err = uc_emu_start(uc_, read_reg(UC_X86_REG_RIP), kNoUntil, 0, 0);
  if (block_stop_ == BlockStop::kFinishInBlock) {
    // The target is inside the block at RIP (which has not run): run it again with a code hook
    // on the target's exact address. Hooks reach translated code only after the translation is
    // dropped; both removals cost a retranslation of that block (~10 us).
    counter_.settle_before_block();
    write_reg(UC_X86_REG_RIP, block_address_);
    block_stop_ = BlockStop::kNone;
    finishing_ = true;
    uc_hook hook;
    const bool added = uc_hook_add(uc_, &hook, UC_HOOK_CODE, reinterpret_cast<void*>(&on_target),
                                   this, finish_address_, finish_address_) == UC_ERR_OK;
    HLRR_CHECK(added);
    uc_ctl_remove_cache(uc_, finish_address_, finish_address_ + 1);
    err = uc_emu_start(uc_, read_reg(UC_X86_REG_RIP), kNoUntil, 0, 0);
    uc_hook_del(uc_, hook);
    uc_ctl_remove_cache(uc_, finish_address_, finish_address_ + 1);
    finishing_ = false;
  }
  if (settle_count(err)) {
    // A stop requested meanwhile stays pending: the next run of its generation stops at once.
    // A watched access in the last instruction before the target is still reported.
    if (hit_ && hit_->kind != DebugPointKind::kBreakpoint) return debug_point_exit();
    return VcpuExit{.kind = options.single_step ? ExitKind::kDebug : ExitKind::kInstructionLimit};
  }
  const bool performs_site =
      pending_site_ &&
      (pending_site_->kind == SiteKind::kHlt || pending_site_->kind == SiteKind::kOut ||
       pending_site_->kind == SiteKind::kIn || pending_site_->kind == SiteKind::kSyscall);
  VcpuExit exit = translate_stop(err, options);
  // The backend performed the `hlt`/`out`/`in`/`syscall` itself: it retired.
  if (performs_site && exit.kind != ExitKind::kUnsupported && exit.kind != ExitKind::kException) {
    counter_.add(1);
  }
  return exit;
}

// Settles the instruction count from how the run ended; true if it ended at the target.
bool UnicornVcpu::settle_count(int err) {
  uint64_t count;
  switch (block_stop_) {
    case BlockStop::kTarget:
    case BlockStop::kRequested:
    case BlockStop::kUnscanned:
      count = counter_.settle_before_block();
      write_reg(UC_X86_REG_RIP, block_address_);
      break;
    case BlockStop::kTargetHook:
      count = counter_.settle_at(read_reg(UC_X86_REG_RIP));
      break;
    default:
      // Stopped before the instruction at RIP (a site, a fault), or, with nothing pending,
      // between blocks.
      if (pending_site_ || unscanned_io_ || pending_vector_ >= 0 || hit_ || err != UC_ERR_OK) {
        count = counter_.settle_at(read_reg(UC_X86_REG_RIP));
      } else {
        count = counter_.settle_after_block();
      }
      break;
  }
  if (count != target_) return false;
  // A site at the target is not performed: the target comes first. A fault cannot be there:
  // the hooks stop before the target's instruction runs.
  if (pending_vector_ >= 0 || err != UC_ERR_OK) return false;
  pending_site_ = nullptr;
  unscanned_io_ = false;
  return true;
}

VcpuExit UnicornVcpu::translate_stop(int err, const RunOptions& options) {
  // A breakpoint stops before a site's instruction (not performed); a watchpoint's access
  // completed before whatever ended the run.
  if (hit_) return debug_point_exit();
  if (pending_site_) return io_exit(*pending_site_);
  if (unscanned_name_) {
    // Run unrecorded, its result (or its exit) would make a recording lie; as for unscanned
    // port I/O, the call ends here, at the same RIP live and in replay.
    return VcpuExit{.kind = ExitKind::kUnsupported,
                    .detail = std::string(unscanned_name_) +
                              " in code the loader did not scan (written at run time)"};
  }
  if (unscanned_io_) {
    return VcpuExit{.kind = ExitKind::kUnsupported,
                    .detail = "port I/O from code the loader did not scan (near rip " +
                              hex(read_reg(UC_X86_REG_RIP)) + ")"};
  }
  if (pending_vector_ >= 0) {
    return VcpuExit{.kind = ExitKind::kException, .vector = static_cast<uint8_t>(pending_vector_)};
  }
  switch (err) {
    case UC_ERR_OK:
      break;
    case UC_ERR_READ_UNMAPPED:
    case UC_ERR_WRITE_UNMAPPED:
    case UC_ERR_FETCH_UNMAPPED:
      return memory_fault();
    case UC_ERR_INSN_INVALID:
      return VcpuExit{.kind = ExitKind::kException, .vector = kInvalidOpcode};
    default:
      return VcpuExit{.kind = ExitKind::kInternalError,
                      .detail = std::string("unicorn: ") + uc_strerror(static_cast<uc_err>(err))};
  }
  // A jump to exactly kNoUntil (non-canonical) ends the run cleanly; any other non-canonical
  // target is a fetch fault reported as #GP (memory_fault()). Same report for this one.
  if (read_reg(UC_X86_REG_RIP) == kNoUntil) {
    return VcpuExit{.kind = ExitKind::kException, .vector = kGeneralProtection};
  }
  if (const StopCause cause = stop_.take(); cause != StopCause::kNone) {
    return VcpuExit{.kind = ExitKind::kStopped, .stop_cause = cause};
  }
  if (options.single_step) return VcpuExit{.kind = ExitKind::kDebug};
  if (options.max_instructions) return VcpuExit{.kind = ExitKind::kInstructionLimit};
  // uc_emu_stop() raced with the start of the run: report the stop that was asked for.
  return VcpuExit{.kind = ExitKind::kStopped};
}

VcpuExit UnicornVcpu::io_exit(const InstructionSite& site) {
  const uint64_t next = site.address + site.length;
  switch (site.kind) {
    case SiteKind::kHlt:
      write_reg(UC_X86_REG_RIP, next);
      performed_to_ = next;
      return VcpuExit{.kind = ExitKind::kHalt};
    case SiteKind::kOut:
    case SiteKind::kIn: {
      const uint16_t port =
          site.port_in_dx ? static_cast<uint16_t>(read_reg(UC_X86_REG_RDX)) : site.port;
      write_reg(UC_X86_REG_RIP, next);
      performed_to_ = next;
      if (site.kind == SiteKind::kIn) {
        pending_in_size_ = site.size;
        return VcpuExit{.kind = ExitKind::kIoIn, .port = port, .size = site.size};
      }
      const uint32_t mask = site.size == 4 ? 0xFFFFFFFFu : (1u << (site.size * 8)) - 1;
      return VcpuExit{.kind = ExitKind::kIoOut,
                      .port = port,
                      .size = site.size,
                      .data = static_cast<uint32_t>(read_reg(UC_X86_REG_RAX)) & mask};
    }
    case SiteKind::kRdtsc:
    case SiteKind::kRdtscp:
    case SiteKind::kRdrand:
    case SiteKind::kRdseed:
      return nondet_exit(site);
    case SiteKind::kSyscall:
      return perform_syscall(site);
    default:
      return VcpuExit{.kind = ExitKind::kUnsupported,
                      .detail = "`" + site.text + "` at " + hex(site.address) +
                                " is not supported on the software vCPU"};
  }
}

VcpuExit UnicornVcpu::memory_fault() {
  const uint64_t a = unmapped_address_;
  if (!is_canonical(a)) return VcpuExit{.kind = ExitKind::kException, .vector = kGeneralProtection};
  if (a >= memory_.size() && a < HL_MAPPED_LIMIT) {
    return VcpuExit{.kind = ExitKind::kOutOfBounds, .has_address = true, .address = a};
  }
  // Not present: the null page, the stack guard page, or beyond the identity map. Error code as
  // the CPU computes it with NXE off: not-present, supervisor, W/R.
  const uint32_t error_code = unmapped_type_ == UC_MEM_WRITE_UNMAPPED ? 2 : 0;
  return VcpuExit{.kind = ExitKind::kException,
                  .vector = kPageFault,
                  .error_code = error_code,
                  .has_address = true,
                  .address = a};
}

void UnicornVcpu::on_site(uc_struct* uc, uint64_t address, uint32_t, void* self) {
  auto* v = static_cast<UnicornVcpu*>(self);
  auto it = v->site_at_.find(address);
  if (it == v->site_at_.end()) return;
  // cpuid runs natively: the CPU model answers it identically everywhere.
  if (it->second->kind == SiteKind::kCpuid) return;
  // This hook was added first, and a stop ends Unicorn's hook walk: a breakpoint on the site
  // is checked here, before the site is performed.
  if (v->stop_at_breakpoint(uc, address)) return;
  v->pending_site_ = it->second;
  uc_emu_stop(uc);
}

void UnicornVcpu::on_unscanned_io(uc_struct* uc, uint32_t, int, uint32_t, void* self) {
  auto* v = static_cast<UnicornVcpu*>(self);
  if (v->pending_site_) return;
  v->unscanned_io_ = true;
  uc_emu_stop(uc);
}

uint32_t UnicornVcpu::on_unscanned_in(uc_struct* uc, uint32_t port, int size, void* self) {
  on_unscanned_io(uc, port, size, 0, self);
  return 0;
}

void UnicornVcpu::on_interrupt(uc_struct* uc, uint32_t vector, void* self) {
  // Stop here, or Unicorn delivers a double fault next (docs/vcpu-facts.md).
  static_cast<UnicornVcpu*>(self)->pending_vector_ = static_cast<int>(vector);
  uc_emu_stop(uc);
}

bool UnicornVcpu::on_unmapped(uc_struct*, int type, uint64_t address, int, int64_t, void* self) {
  auto* v = static_cast<UnicornVcpu*>(self);
  v->unmapped_type_ = type;
  v->unmapped_address_ = address;
  return false;
}

void UnicornVcpu::on_write(uc_struct*, int, uint64_t address, int size, int64_t, void* self) {
  static_cast<UnicornVcpu*>(self)->memory_.dirty_log().mark_range(address,
                                                                  static_cast<uint64_t>(size));
}

bool UnicornVcpu::on_invalid_instruction(uc_struct*, void*) {
  return false;
}

void UnicornVcpu::on_block(uc_struct* uc, uint64_t address, uint32_t size, void* self) {
  auto* v = static_cast<UnicornVcpu*>(self);
  const BlockCounter::Block& block = v->counter_.enter(address, size);
  v->code_log_.ran(address, size);
  // Stops here take effect before the block's first instruction (measured), but RIP is stale
  // when the block was entered by a chained jump: settle_count() sets it to the block's start.
  v->block_address_ = address;
  // Stop requests are polled here, where the instruction count is exact (so no kick()): an
  // asynchronous uc_emu_stop() could land mid-block at a point the count can't name.
  if (v->stop_.pending() != StopCause::kNone) {
    v->block_stop_ = BlockStop::kRequested;
    uc_emu_stop(uc);
    return;
  }
  if (!v->finishing_ && !block.specials.empty() && v->stop_at_unscanned(block)) return;
  if (v->finishing_ || v->target_ == kNoTarget) return;
  const uint64_t first = v->counter_.count_at_block_start();
  if (v->target_ >= first + block.length()) return;
  if (v->target_ == first) {
    v->block_stop_ = BlockStop::kTarget;
  } else {
    v->block_stop_ = BlockStop::kFinishInBlock;
    v->finish_address_ = block.address_of(v->target_ - first);
  }
  uc_emu_stop(uc);
}

bool UnicornVcpu::stop_at_unscanned(const BlockCounter::Block& block) {
  const uint64_t first = counter_.count_at_block_start();
  for (const auto& special : block.specials) {
    const uint64_t address = block.address_of(special.index);
    if (site_at_.contains(address)) continue;
    if (target_ != kNoTarget && target_ <= first + special.index) return false;  // target first
    unscanned_at_ = address;
    unscanned_name_ = special.name;
    if (special.index == 0) {
      block_stop_ = BlockStop::kUnscanned;
    } else {
      block_stop_ = BlockStop::kFinishInBlock;  // run_counted() reruns the block to a code hook
      finish_address_ = address;
    }
    uc_emu_stop(uc_);
    return true;
  }
  return false;
}

void UnicornVcpu::on_target(uc_struct* uc, uint64_t address, uint32_t, void* self) {
  auto* v = static_cast<UnicornVcpu*>(self);
  if (address != v->finish_address_) return;
  v->block_stop_ = BlockStop::kTargetHook;
  uc_emu_stop(uc);
}

base::Status UnicornVcpu::set_debug_points(std::span<const DebugPoint> points) {
  if (auto st = check_debug_points(points, memory_.size()); !st) return st;
  const auto has_watch = [](std::span<const DebugPoint> set) {
    for (const DebugPoint& p : set) {
      if (p.kind != DebugPointKind::kBreakpoint) return true;
    }
    return false;
  };
  const bool had_watch = has_watch(debug_points_);
  for (size_t h : debug_hooks_) uc_hook_del(uc_, h);
  debug_hooks_.clear();
  // Translations made before (or with) a code hook keep (or lack) its call: drop them.
  for (const DebugPoint& p : debug_points_) {
    if (p.kind == DebugPointKind::kBreakpoint) uc_ctl_remove_cache(uc_, p.address, p.address + 1);
  }
  debug_points_.assign(points.begin(), points.end());
  bool ok = true;
  for (const DebugPoint& p : debug_points_) {
    uc_hook h = 0;
    // Unicorn matches a memory hook on the access's first byte only: start the range early
    // enough to see any access that overlaps the watched bytes; on_watched_access() then
    // checks the overlap exactly.
    const uint64_t first = p.address > kMaxAccessSize ? p.address - (kMaxAccessSize - 1) : 0;
    const uint64_t last = p.address + p.length - 1;
    switch (p.kind) {
      case DebugPointKind::kBreakpoint:
        ok &= uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&on_breakpoint), this,
                          p.address, p.address) == UC_ERR_OK;
        uc_ctl_remove_cache(uc_, p.address, p.address + 1);
        break;
      case DebugPointKind::kWriteWatch:
        ok &= uc_hook_add(uc_, &h, UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(&on_watched_access),
                          this, first, last) == UC_ERR_OK;
        break;
      case DebugPointKind::kReadWatch:
        ok &= uc_hook_add(uc_, &h, UC_HOOK_MEM_READ, reinterpret_cast<void*>(&on_watched_access),
                          this, first, last) == UC_ERR_OK;
        break;
      case DebugPointKind::kAccessWatch:
        ok &= uc_hook_add(uc_, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                          reinterpret_cast<void*>(&on_watched_access), this, first,
                          last) == UC_ERR_OK;
        break;
    }
    if (h) debug_hooks_.push_back(h);
  }
  const bool watch = has_watch(debug_points_);
  if (watch) {
    uc_hook h = 0;
    ok &= uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&on_instruction_after_access),
                      this, 1, 0) == UC_ERR_OK;
    if (h) debug_hooks_.push_back(h);
  }
  // Adding or removing the every-instruction hook changes every translation. Not uc_ctl_flush_tb:
  // a tb_flush costs seconds in 2.0.1 (docs/vcpu-facts.md); invalidating by range does not.
  // From the first mapped page: Unicorn 2.0.1 ignores a range whose start is unmapped (page 0),
  // which left stale translations without the hook (replay's Timeline tests caught it).
  // Translations exist only where code ran (CodeLog): drop those, not all of memory.
  if (watch != had_watch) {
    code_log_.for_each_page_range([&](uint64_t first, uint64_t last) {
      uc_ctl_remove_cache(uc_, std::max<uint64_t>(first << 12, HL_PAGE_SIZE), (last + 1) << 12);
    });
    code_log_.forget();
  }
  // No uc_ctl_flush_tlb(): it is a tb_flush in 2.0.1 (seconds). Not needed either: the
  // never-matching read and write hooks of init() keep every access on the TLB's slow path,
  // where the watch hooks are consulted.
  if (!ok) return base::fail("unicorn: cannot install a breakpoint or watchpoint hook");
  return {};
}

void UnicornVcpu::on_breakpoint(uc_struct* uc, uint64_t address, uint32_t, void* self) {
  static_cast<UnicornVcpu*>(self)->stop_at_breakpoint(uc, address);
}

bool UnicornVcpu::stop_at_breakpoint(uc_struct* uc, uint64_t address) {
  if (stepping_ || hit_) return false;
  if (address == skip_breakpoint_at_) {
    skip_breakpoint_at_ = ~0ull;
    return false;
  }
  for (const DebugPoint& p : debug_points_) {
    if (p.kind == DebugPointKind::kBreakpoint && p.address == address) {
      hit_ = &p;
      uc_emu_stop(uc);
      return true;
    }
  }
  return false;
}

void UnicornVcpu::on_watched_access(uc_struct*, int type, uint64_t address, int size, int64_t,
                                    void* self) {
  auto* v = static_cast<UnicornVcpu*>(self);
  if (v->hit_) return;
  const bool write = type == UC_MEM_WRITE;
  for (const DebugPoint& p : v->debug_points_) {
    const bool kind_matches =
        p.kind == DebugPointKind::kAccessWatch ||
        (write ? p.kind == DebugPointKind::kWriteWatch : p.kind == DebugPointKind::kReadWatch);
    if (kind_matches && address < p.address + p.length &&
        p.address < address + static_cast<uint64_t>(size)) {
      v->hit_ = &p;  // stop before the next instruction: on_instruction_after_access
      return;
    }
  }
}

void UnicornVcpu::on_instruction_after_access(uc_struct* uc, uint64_t, uint32_t, void* self) {
  auto* v = static_cast<UnicornVcpu*>(self);
  if (v->hit_ && v->hit_->kind != DebugPointKind::kBreakpoint) uc_emu_stop(uc);
}

VcpuExit UnicornVcpu::debug_point_exit() {
  const DebugPoint& p = *hit_;
  hit_ = nullptr;
  return VcpuExit{.kind = ExitKind::kDebug,
                  .has_address = true,
                  .address = p.address,
                  .has_debug_point = true,
                  .debug_point = p.kind};
}

base::Status UnicornVcpu::set_dirty_tracking(bool enabled) {
  if (enabled == tracking_) return {};
  DirtyPageLog& log = memory_.dirty_log();
  if (!enabled) {
    if (auto st = stop_write_hook(); !st) return st;
    if (owns_collector_) log.set_collector(nullptr);
    owns_collector_ = false;
    lazy_.reset();
    tracking_ = false;
    return {};
  }
  if (log.has_collector()) {
    // Another backend shares this memory and collects its own record (the hybrid's KVM): the
    // log has room for one collector, so this vCPU marks stores as they happen.
    if (auto st = start_write_hook(); !st) return st;
  } else {
    lazy_ = std::make_unique<LazyWriteTracking>(memory_, [this] { return start_write_hook(); });
    log.set_collector([this] { return lazy_ ? lazy_->collect() : base::Status{}; });
    owns_collector_ = true;
  }
  tracking_ = true;
  return {};
}

base::Status UnicornVcpu::add_write_hook(uint64_t begin, uint64_t end, uint64_t& hook,
                                         const char* purpose) {
  uc_hook h = 0;
  if (uc_err err = uc_hook_add(uc_, &h, UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(&on_write), this,
                               begin, end);
      err != UC_ERR_OK) {
    return base::fail(std::string("unicorn: cannot ") + purpose + ": " + uc_strerror(err));
  }
  hook = h;
  return {};
}

base::Status UnicornVcpu::add_exact_rip_write_hook() {
  return add_write_hook(kNeverAccessed, kNeverAccessed, exact_rip_write_hook_,
                        "keep RIP exact at stores");
}

base::Status UnicornVcpu::start_write_hook() {
  if (dirty_hook_ != 0) return {};
  // The full range (begin > end in Unicorn's terms).
  if (auto st = add_write_hook(1, 0, dirty_hook_, "track dirty pages"); !st) return st;
  // No flush needed (and uc_ctl_flush_tlb() is a translation flush, 1.7 s here): the
  // never-matching memory hooks already send every access through the helper that walks the
  // hook list at run time. The full-range hook keeps stores on that path, so the never-matching
  // write hook goes while it is on: one hook fewer for Unicorn to walk at every store.
  uc_hook_del(uc_, exact_rip_write_hook_);
  exact_rip_write_hook_ = 0;
  return {};
}

base::Status UnicornVcpu::stop_write_hook() {
  if (dirty_hook_ == 0) return {};
  if (auto st = add_exact_rip_write_hook(); !st) return st;
  uc_hook_del(uc_, dirty_hook_);
  dirty_hook_ = 0;
  return {};
}

void UnicornVcpu::code_modified(uint64_t gpa, uint64_t len) {
  uc_ctl_remove_cache(uc_, gpa, gpa + len);
  counter_.forget_blocks();
}

void UnicornVcpu::set_io_in_result(uint32_t value) {
  const uint64_t rax = read_reg(UC_X86_REG_RAX);
  uint64_t result;
  switch (pending_in_size_) {
    case 1:
      result = (rax & ~0xFFull) | (value & 0xFF);
      break;
    case 2:
      result = (rax & ~0xFFFFull) | (value & 0xFFFF);
      break;
    default:
      result = value;
      break;  // a 32-bit write zero-extends into RAX
  }
  write_reg(UC_X86_REG_RAX, result);
}

base::Expected<RegisterFile> UnicornVcpu::registers() {
  RegisterFile r;
  uint64_t* slots[std::size(kGprs)];
  gpr_slots(r, slots);
  void* ptrs[std::size(kGprs)];
  for (size_t i = 0; i < std::size(kGprs); ++i) ptrs[i] = slots[i];
  r.rflags = 0;
  if (uc_reg_read_batch(uc_, const_cast<int*>(kGprs), ptrs, std::size(kGprs)) != UC_ERR_OK) {
    return base::fail("unicorn: cannot read registers");
  }
  // The rest of the non-FPU state in one batch (segment selectors are read as 64-bit values).
  uint64_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
  int regs[] = {UC_X86_REG_CS,  UC_X86_REG_SS,  UC_X86_REG_DS,      UC_X86_REG_ES,
                UC_X86_REG_FS,  UC_X86_REG_GS,  UC_X86_REG_FS_BASE, UC_X86_REG_GS_BASE,
                UC_X86_REG_CR0, UC_X86_REG_CR2, UC_X86_REG_CR3,     UC_X86_REG_CR4};
  void* values[] = {&cs,        &ss,        &ds,    &es,    &fs,    &gs,
                    &r.fs_base, &r.gs_base, &r.cr0, &r.cr2, &r.cr3, &r.cr4};
  if (uc_reg_read_batch(uc_, regs, values, std::size(regs)) != UC_ERR_OK) {
    return base::fail("unicorn: cannot read registers");
  }
  r.cs = static_cast<uint16_t>(cs), r.ss = static_cast<uint16_t>(ss),
  r.ds = static_cast<uint16_t>(ds);
  r.es = static_cast<uint16_t>(es), r.fs = static_cast<uint16_t>(fs),
  r.gs = static_cast<uint16_t>(gs);
  r.efer = 0x500;  // Unicorn's UC_MODE_64 runs with LMA|LME and no EFER register to read
  if (fpu_static_ && fpu_known_) {
    copy_fpu_state(fpu_, r);
    return r;
  }
  r.fcw = static_cast<uint16_t>(read_reg(UC_X86_REG_FPCW));
  r.fsw = static_cast<uint16_t>(read_reg(UC_X86_REG_FPSW));
  r.ftw = static_cast<uint16_t>(read_reg(UC_X86_REG_FPTAG));
  r.fip = read_reg(UC_X86_REG_FIP);
  r.fdp = read_reg(UC_X86_REG_FDP);
  // A fop set with this fip stands (a restored state); otherwise the guest ran the instruction.
  r.fop = r.fip == fop_fip_ ? fop_set_ : x87_opcode(memory_, r.fip);
  r.mxcsr = static_cast<uint32_t>(read_reg(UC_X86_REG_MXCSR));
  for (int i = 0; i < 16; ++i) uc_reg_read(uc_, UC_X86_REG_XMM0 + i, r.xmm[i].data());
  // UC_X86_REG_FP0..7 are the physical registers R0..R7; the register file is stack-relative.
  const int top = (r.fsw >> 11) & 7;
  for (int i = 0; i < 8; ++i) {
    uint8_t st[16] = {};
    uc_reg_read(uc_, UC_X86_REG_FP0 + i, st);
    std::copy(st, st + 10, r.st[(i - top) & 7].begin());
  }
  return r;
}

base::Status UnicornVcpu::set_registers(const RegisterFile& regs) {
  // Moving RIP (a call's start, gdb's `jump`, a restored checkpoint) is not a stop at the new
  // RIP either: a breakpoint there fires on the next run.
  if (regs.rip != read_reg(UC_X86_REG_RIP)) performed_to_ = regs.rip;
  RegisterFile copy = regs;
  uint64_t* slots[std::size(kGprs)];
  gpr_slots(copy, slots);
  void* ptrs[std::size(kGprs)];
  for (size_t i = 0; i < std::size(kGprs); ++i) ptrs[i] = slots[i];
  if (uc_reg_write_batch(uc_, const_cast<int*>(kGprs), ptrs, std::size(kGprs)) != UC_ERR_OK) {
    return base::fail("unicorn: cannot write registers");
  }
  // Segment loads read descriptors from the GDT in guest memory. CR0/CR3/EFER are left as
  // Unicorn's 64-bit mode has them: setting CR0.PG breaks later exceptions (VCPU-FACTS.md).
  const std::pair<int, uint16_t> segments[] = {{UC_X86_REG_CS, regs.cs}, {UC_X86_REG_SS, regs.ss},
                                               {UC_X86_REG_DS, regs.ds}, {UC_X86_REG_ES, regs.es},
                                               {UC_X86_REG_FS, regs.fs}, {UC_X86_REG_GS, regs.gs}};
  for (auto [reg, value] : segments) {
    if (read_reg(reg) != value) write_reg(reg, value);
  }
  write_reg(UC_X86_REG_FS_BASE, regs.fs_base);
  write_reg(UC_X86_REG_GS_BASE, regs.gs_base);
  write_reg(UC_X86_REG_CR4, regs.cr4);
  write_reg(UC_X86_REG_CR2, regs.cr2);
  // A static FPU changes only here: skip the 28 writes when it is what was set last.
  if (fpu_static_ && fpu_known_ && same_fpu_state(fpu_, regs)) return {};
  write_reg(UC_X86_REG_FPCW, regs.fcw);
  write_reg(UC_X86_REG_FPSW, regs.fsw);
  write_reg(UC_X86_REG_FPTAG, regs.ftw);
  write_reg(UC_X86_REG_FIP, regs.fip);
  write_reg(UC_X86_REG_FDP, regs.fdp);
  fop_fip_ = regs.fip, fop_set_ = regs.fop;
  write_reg(UC_X86_REG_MXCSR, regs.mxcsr);
  for (int i = 0; i < 16; ++i) uc_reg_write(uc_, UC_X86_REG_XMM0 + i, regs.xmm[i].data());
  const int top = (regs.fsw >> 11) & 7;
  for (int i = 0; i < 8; ++i) {
    uint8_t st[16] = {};
    std::copy(regs.st[i].begin(), regs.st[i].end(), st);
    uc_reg_write(uc_, UC_X86_REG_FP0 + ((top + i) & 7), st);  // ST(i) is R(TOP + i)
  }
  copy_fpu_state(regs, fpu_);
  fpu_known_ = true;
  return {};
}

}  // namespace hlrr::vmm

namespace hlrr::vmm {
namespace {

// Unicorn's 64-bit register for an encoding-order register number (InstructionSite::gpr).
constexpr int kGprByNumber[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                                  UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                                  UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                                  UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};

}  // namespace

VcpuExit UnicornVcpu::nondet_exit(const InstructionSite& site) {
  // RIP stays at the instruction: it has not executed, and its result is the caller's to give.
  pending_nondet_ = &site;
  static constexpr NondetInstruction kKinds[] = {
      NondetInstruction::kRdtsc, NondetInstruction::kRdtscp, NondetInstruction::kRdrand,
      NondetInstruction::kRdseed};
  const auto index = static_cast<size_t>(site.kind) - static_cast<size_t>(SiteKind::kRdtsc);
  return VcpuExit{.kind = ExitKind::kNondet, .size = site.size, .nondet = kKinds[index]};
}

void UnicornVcpu::set_nondet_result(uint64_t value, uint64_t extra) {
  const InstructionSite* site = pending_nondet_;
  if (!site) return;
  pending_nondet_ = nullptr;
  switch (site->kind) {
    case SiteKind::kRdtscp:
      write_reg(UC_X86_REG_RCX, extra & 0xFFFFFFFFu);  // IA32_TSC_AUX
      [[fallthrough]];
    case SiteKind::kRdtsc:
      write_reg(UC_X86_REG_RAX, value & 0xFFFFFFFFu);
      write_reg(UC_X86_REG_RDX, value >> 32);
      break;
    case SiteKind::kRdrand:
    case SiteKind::kRdseed: {
      // The scan always decodes the register operand; a site without one writes no register.
      if (site->gpr >= 0 && site->gpr < 16) {
        const int reg = kGprByNumber[site->gpr];
        uint64_t result = value;  // size 8; a 32-bit destination zero-extends
        if (site->size == 4) result = value & 0xFFFFFFFFu;
        if (site->size == 2) result = (read_reg(reg) & ~0xFFFFull) | (value & 0xFFFF);
        write_reg(reg, result);
      }
      // CF = success; OF, SF, ZF, AF, PF cleared.
      const uint64_t flags = read_reg(UC_X86_REG_EFLAGS) & ~kRflagsStatusBits;
      write_reg(UC_X86_REG_EFLAGS, flags | (extra & 1));
      break;
    }
    default:
      return;
  }
  write_reg(UC_X86_REG_RIP, site->address + site->length);
  performed_to_ = site->address + site->length;
  counter_.add(1);  // it retired (docs/replay.md: the host performs it, it counts once)
}

}  // namespace hlrr::vmm
