#include <capstone/capstone.h>

#include <cstring>
#include <optional>
#include <string>

#include "hl_abi.h"
#include "vmm/kvm_internal.h"
#include "vmm/kvm_vcpu.h"
#include "vmm/long_mode.h"

// KvmVcpu's exits that need more than a translation: port I/O (and the exception stubs' port), MMIO
// outside guest memory, emulation failures.
namespace hlrr::vmm {

using namespace kvm;

namespace {

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

}  // namespace hlrr::vmm
