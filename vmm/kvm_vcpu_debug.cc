#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "vmm/cpu_model.h"
#include "vmm/kvm_internal.h"
#include "vmm/kvm_vcpu.h"

// KvmVcpu's debug registers: breakpoints, single steps, and cpuid answered at hardware breakpoints.
namespace hlrr::vmm {

using namespace kvm;

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

bool KvmVcpu::at_breakpoint(uint64_t rip) const {
  return std::find(breakpoints_.begin(), breakpoints_.end(), rip) != breakpoints_.end();
}

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

}  // namespace hlrr::vmm
