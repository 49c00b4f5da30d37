#include "recorder/convert.h"

namespace hlrr::recorder {

trace::Registers to_trace(const vmm::RegisterFile& r) {
  trace::Registers t;
  t.rax = r.rax, t.rbx = r.rbx, t.rcx = r.rcx, t.rdx = r.rdx;
  t.rsi = r.rsi, t.rdi = r.rdi, t.rbp = r.rbp, t.rsp = r.rsp;
  t.r8 = r.r8, t.r9 = r.r9, t.r10 = r.r10, t.r11 = r.r11;
  t.r12 = r.r12, t.r13 = r.r13, t.r14 = r.r14, t.r15 = r.r15;
  t.rip = r.rip, t.rflags = r.rflags;
  t.cs = r.cs, t.ss = r.ss, t.ds = r.ds, t.es = r.es, t.fs = r.fs, t.gs = r.gs;
  t.fs_base = r.fs_base, t.gs_base = r.gs_base;
  t.cr0 = r.cr0, t.cr2 = r.cr2, t.cr3 = r.cr3, t.cr4 = r.cr4, t.efer = r.efer;
  t.fcw = r.fcw, t.fsw = r.fsw, t.ftw = r.ftw, t.mxcsr = r.mxcsr;
  t.fop = r.fop, t.fip = r.fip, t.fdp = r.fdp;
  t.xmm = r.xmm;
  t.st = r.st;
  return t;
}

vmm::RegisterFile from_trace(const trace::Registers& t) {
  vmm::RegisterFile r;
  r.rax = t.rax, r.rbx = t.rbx, r.rcx = t.rcx, r.rdx = t.rdx;
  r.rsi = t.rsi, r.rdi = t.rdi, r.rbp = t.rbp, r.rsp = t.rsp;
  r.r8 = t.r8, r.r9 = t.r9, r.r10 = t.r10, r.r11 = t.r11;
  r.r12 = t.r12, r.r13 = t.r13, r.r14 = t.r14, r.r15 = t.r15;
  r.rip = t.rip, r.rflags = t.rflags;
  r.cs = t.cs, r.ss = t.ss, r.ds = t.ds, r.es = t.es, r.fs = t.fs, r.gs = t.gs;
  r.fs_base = t.fs_base, r.gs_base = t.gs_base;
  r.cr0 = t.cr0, r.cr2 = t.cr2, r.cr3 = t.cr3, r.cr4 = t.cr4, r.efer = t.efer;
  r.fcw = t.fcw, r.fsw = t.fsw, r.ftw = t.ftw, r.mxcsr = t.mxcsr;
  r.fop = t.fop, r.fip = t.fip, r.fdp = t.fdp;
  r.xmm = t.xmm;
  r.st = t.st;
  return r;
}

trace::Value to_trace(const vmm::Value& value) {
  if (auto* i = std::get_if<int64_t>(&value)) return *i;
  if (auto* s = std::get_if<std::string>(&value)) return *s;
  if (auto* b = std::get_if<vmm::Bytes>(&value)) return *b;
  return std::monostate{};
}

std::vector<trace::MemoryWrite> to_trace(std::span<const vmm::HostWrite> writes) {
  std::vector<trace::MemoryWrite> out;
  out.reserve(writes.size());
  for (const auto& w : writes) out.push_back(trace::MemoryWrite{w.address, w.bytes});
  return out;
}

trace::NondetKind to_trace(vmm::NondetInstruction kind) {
  switch (kind) {
    case vmm::NondetInstruction::kRdtsc:
      return trace::NondetKind::kRdtsc;
    case vmm::NondetInstruction::kRdtscp:
      return trace::NondetKind::kRdtscp;
    case vmm::NondetInstruction::kRdrand:
      return trace::NondetKind::kRdrand;
    case vmm::NondetInstruction::kRdseed:
      return trace::NondetKind::kRdseed;
  }
  return trace::NondetKind::kRdtsc;
}

std::optional<trace::Exit> to_trace_exit(const vmm::VcpuExit& exit) {
  using vmm::ExitKind;
  trace::Exit t;
  const auto fault = [&](std::string message) {
    return trace::Fault{exit.vector, exit.error_code, exit.has_address ? exit.address : 0,
                        std::move(message)};
  };
  switch (exit.kind) {
    case ExitKind::kIoOut:
      t.kind = trace::ExitKind::kPortOut;
      t.port = exit.port;
      t.access_size = exit.size;
      t.data = exit.data;
      break;
    case ExitKind::kIoIn:
      // The exit loop serves no `in`: it ends the call (bad I/O), so no value is returned.
      t.kind = trace::ExitKind::kPortIn;
      t.port = exit.port;
      t.access_size = exit.size;
      break;
    case ExitKind::kHalt:
      t.kind = trace::ExitKind::kHalt;
      break;
    case ExitKind::kException:
      t.kind = trace::ExitKind::kException;
      t.fault = fault("exception vector " + std::to_string(exit.vector));
      break;
    case ExitKind::kOutOfBounds:
      t.kind = trace::ExitKind::kOutOfBounds;
      t.fault = fault("access outside guest memory");
      break;
    case ExitKind::kStopped:
      t.kind = trace::ExitKind::kTimeout;
      break;
    case ExitKind::kShutdown:
      t.kind = trace::ExitKind::kShutdown;
      t.fault = fault("triple fault");
      break;
    case ExitKind::kUnsupported:
    case ExitKind::kInternalError:
      t.kind = trace::ExitKind::kInternalError;
      t.fault = fault(exit.detail);
      break;
    case ExitKind::kDebug:
    case ExitKind::kInstructionLimit:
    case ExitKind::kNondet:
      return std::nullopt;
  }
  return t;
}

}  // namespace hlrr::recorder
