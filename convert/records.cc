#include "convert/records.h"

namespace hlrr::convert {

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

trace::NondetResult to_trace_nondet(vmm::NondetInstruction kind, uint64_t instruction_count,
                                    uint64_t rip, uint64_t value, uint64_t extra) {
  trace::NondetResult r{instruction_count, rip, to_trace(kind), {value}};
  if (kind != vmm::NondetInstruction::kRdtsc) r.values.push_back(extra);
  return r;
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

}  // namespace hlrr::convert
