#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "vmm/kvm_internal.h"
#include "vmm/kvm_vcpu.h"
#include "vmm/long_mode.h"

// KvmVcpu's registers: the register file to and from kvm_regs, kvm_sregs and kvm_fpu.
namespace hlrr::vmm {

using namespace kvm;

namespace {

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

}  // namespace

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
