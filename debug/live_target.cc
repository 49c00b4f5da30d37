#include "debug/live_target.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "debug/gdb_registers.h"
#include "hl_abi.h"
#include "vmm/long_mode.h"

namespace hlrr::debug {

using namespace vmm;  // LiveTarget is written in the vCPU's terms
namespace {

constexpr uint8_t kSigAbrt = 6;
constexpr uint8_t kSigAlrm = 14;

DebugPointKind debug_kind(rsp::BreakpointKind kind) {
  switch (kind) {
    case rsp::BreakpointKind::kWriteWatch:
      return DebugPointKind::kWriteWatch;
    case rsp::BreakpointKind::kReadWatch:
      return DebugPointKind::kReadWatch;
    case rsp::BreakpointKind::kAccessWatch:
      return DebugPointKind::kAccessWatch;
    default:
      return DebugPointKind::kBreakpoint;
  }
}

bool is_watch(rsp::BreakpointKind kind) {
  return kind != rsp::BreakpointKind::kSoftware && kind != rsp::BreakpointKind::kHardware;
}

}  // namespace

uint8_t signal_for(const Fault& fault) {
  switch (fault.kind) {
    case FaultKind::kPageFault:
    case FaultKind::kGeneralProtection:
    case FaultKind::kOutOfBounds:
    case FaultKind::kTripleFault:
      return rsp::kSigSegv;
    case FaultKind::kInvalidOpcode:
    case FaultKind::kUnsupportedInstruction:
      return rsp::kSigIll;
    case FaultKind::kDivideError:
      return rsp::kSigFpe;
    case FaultKind::kOtherException:
      return fault.vector == kStackSegmentFault ? rsp::kSigSegv : rsp::kSigTrap;
    case FaultKind::kTimeout:
      return kSigAlrm;
    default:
      return kSigAbrt;  // panic, bad host call or port, refused call, VMM error
  }
}

LiveTarget::LiveTarget(Sandbox& sandbox, std::string function, std::vector<Value> args,
                       std::string exec_path)
    : sandbox_(sandbox),
      function_(std::move(function)),
      args_(std::move(args)),
      // gdb looks a relative name up in its own directory and never asks the target for it.
      exec_path_(exec_path.empty()
                     ? exec_path
                     : std::filesystem::absolute(exec_path).lexically_normal().string()) {}

base::Status LiveTarget::read_registers(rsp::RegisterFile& out) {
  auto regs = sandbox_.vcpu().registers();
  if (!regs) return base::Unexpected(std::move(regs).error());
  to_gdb(*regs, out);
  return {};
}

base::Status LiveTarget::write_registers(const rsp::RegisterFile& in) {
  if (auto st = sandbox_.allow_debugger_write(nullptr); !st) return st;
  auto regs = sandbox_.vcpu().registers();
  if (!regs) return base::Unexpected(std::move(regs).error());
  from_gdb(in, *regs);
  return sandbox_.vcpu().set_registers(*regs);
}

base::Status LiveTarget::read_memory(uint64_t address, std::span<uint8_t> out) {
  if (unmapped_in_guest(address, out.size())) return base::fail("not mapped in the guest");
  return sandbox_.memory().read(address, out);
}

base::Status LiveTarget::write_memory(uint64_t address, std::span<const uint8_t> data) {
  if (unmapped_in_guest(address, data.size())) return base::fail("not mapped in the guest");
  const HostWrite write{address, {data.begin(), data.end()}};
  if (auto st = sandbox_.allow_debugger_write(&write); !st) return st;
  if (auto st = sandbox_.memory().write(address, data); !st) return st;
  sandbox_.vcpu().code_modified(address, data.size());
  return {};
}

rsp::StopInfo LiveTarget::resume(rsp::ResumeAction action, std::stop_token stop) {
  if (result_) {
    return result_->has_value() ? rsp::StopInfo::exited(0)
                                : rsp::StopInfo::terminated(signal_for(result_->error()));
  }
  if (pending_fault_) {
    // Continuing from a fault: the guest cannot handle it, so the program ends here.
    const uint8_t sig = signal_for(*pending_fault_);
    result_ = base::Unexpected(std::move(*pending_fault_));
    pending_fault_.reset();
    return rsp::StopInfo::terminated(sig);
  }
  // A new generation: an interrupt that came as the previous resume ended for another reason
  // is stale. The callback runs on the server's I/O thread, only while this resume runs (so for
  // the current generation, which begin_call() renews); request_stop() never blocks.
  sandbox_.vcpu().begin_stop_generation();
  std::stop_callback kick(stop, [this] { sandbox_.vcpu().request_stop(StopCause::kInterrupt); });
  const bool stepping = action == rsp::ResumeAction::kStep;
  for (;;) {
    RunOutcome outcome = sandbox_.resume(RunOptions{.single_step = stepping});
    if (auto s = on_outcome(std::move(outcome), stepping)) return *s;
    // The guest call has begun in a new generation: an interrupt of the old one stops here.
    if (stop.stop_requested()) return rsp::StopInfo::interrupted();
  }
}

std::optional<rsp::StopInfo> LiveTarget::on_outcome(RunOutcome outcome, bool stepping) {
  switch (outcome.kind) {
    case RunOutcome::Kind::kPaused:
      if (outcome.exit.kind == ExitKind::kStopped) return rsp::StopInfo::interrupted();
      if (outcome.exit.has_debug_point) return debug_stop(outcome.exit);
      return rsp::StopInfo::stopped(rsp::kSigTrap);
    case RunOutcome::Kind::kFaulted:
      pending_fault_ = std::move(outcome.fault);
      return rsp::StopInfo::fault(signal_for(*pending_fault_));
    case RunOutcome::Kind::kReturned:
      break;
  }
  if (sandbox_.call_in_progress() || !sandbox_.initialized()) {
    result_ = base::Unexpected(Fault{.kind = FaultKind::kInternal, .message = "lost the call"});
    return rsp::StopInfo::terminated(kSigAbrt);
  }
  if (!in_call_) {
    // The initialisation finished: the guest call follows as part of the same program.
    in_call_ = true;
    if (auto st = sandbox_.begin_call(function_, args_); !st) {
      result_ =
          base::Unexpected(Fault{.kind = FaultKind::kGuestError, .message = st.error().message});
      return rsp::StopInfo::terminated(kSigAbrt);
    }
    if (stepping) return rsp::StopInfo::stopped(rsp::kSigTrap);
    return std::nullopt;
  }
  result_ = std::move(outcome.value);
  return rsp::StopInfo::exited(0);
}

rsp::StopInfo LiveTarget::debug_stop(const VcpuExit& exit) const {
  switch (exit.debug_point) {
    case DebugPointKind::kBreakpoint: {
      const bool hardware = std::any_of(points_.begin(), points_.end(), [&](const Point& p) {
        return p.kind == rsp::BreakpointKind::kHardware && p.address == exit.address;
      });
      return hardware ? rsp::StopInfo::hw_break() : rsp::StopInfo::sw_break();
    }
    case DebugPointKind::kWriteWatch:
      return rsp::StopInfo::watch(rsp::StopInfo::Kind::kWatch, exit.address);
    case DebugPointKind::kReadWatch:
      return rsp::StopInfo::watch(rsp::StopInfo::Kind::kRWatch, exit.address);
    case DebugPointKind::kAccessWatch:
      return rsp::StopInfo::watch(rsp::StopInfo::Kind::kAWatch, exit.address);
  }
  return rsp::StopInfo::stopped(rsp::kSigTrap);
}

base::Status LiveTarget::apply_points() {
  std::vector<DebugPoint> set;
  for (const Point& p : points_) {
    set.push_back(DebugPoint{debug_kind(p.kind), p.address, is_watch(p.kind) ? p.length : 1});
  }
  return sandbox_.vcpu().set_debug_points(set);
}

base::Status LiveTarget::insert_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                           uint64_t length) {
  const DebugPoint checked{debug_kind(kind), address, is_watch(kind) ? length : 1};
  if (auto st = check_debug_points(std::span(&checked, 1), sandbox_.memory().size()); !st) {
    return st;
  }
  const Point point{kind, address, length};
  if (std::find(points_.begin(), points_.end(), point) != points_.end()) return {};
  points_.push_back(point);
  if (auto st = apply_points(); !st) {
    points_.pop_back();
    return st;
  }
  return {};
}

base::Status LiveTarget::remove_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                           uint64_t length) {
  const auto it = std::find(points_.begin(), points_.end(), Point{kind, address, length});
  if (it == points_.end()) return {};
  points_.erase(it);
  return apply_points();
}

base::Status LiveTarget::kill() {
  killed_ = true;
  points_.clear();
  return apply_points();
}

base::Status LiveTarget::detach() {
  detached_ = true;
  points_.clear();
  return apply_points();
}

void LiveTarget::run_to_end() {
  sandbox_.vcpu().begin_stop_generation();  // no interrupt of the debugger's reaches this run
  while (!result_) {
    if (pending_fault_) {
      result_ = base::Unexpected(std::move(*pending_fault_));
      pending_fault_.reset();
      return;
    }
    on_outcome(sandbox_.resume(), /*stepping=*/false);
  }
}

std::vector<rsp::MemoryRegion> LiveTarget::memory_regions() const {
  return guest_memory_regions(sandbox_);
}

std::vector<rsp::MemoryRegion> guest_memory_regions(const Sandbox& sandbox) {
  // hl_abi.h's fixed layout, then the image's segments, then the heap up to the end of memory.
  std::vector<rsp::MemoryRegion> regions = {
      {HL_PAGE_SIZE, HL_STACK_GUARD - HL_PAGE_SIZE, true, true, false, "tables and message areas"},
      {HL_STACK_GUARD + HL_PAGE_SIZE, HL_STACK_TOP - HL_STACK_GUARD - HL_PAGE_SIZE, true, true,
       false, "stack"},
  };
  uint64_t end = HL_IMAGE_BASE;
  std::vector<ElfSegment> segments = sandbox.image().segments();
  std::sort(segments.begin(), segments.end(),
            [](const ElfSegment& a, const ElfSegment& b) { return a.vaddr < b.vaddr; });
  for (const ElfSegment& s : segments) {
    const uint64_t start = s.vaddr & ~(HL_PAGE_SIZE - 1);
    const uint64_t stop = (s.vaddr + s.memory_size + HL_PAGE_SIZE - 1) & ~(HL_PAGE_SIZE - 1);
    if (start < end || stop <= start) continue;  // overlapping pages: keep the first
    regions.push_back(
        {start, stop - start, true, s.writable, s.executable, s.executable ? "text" : "data"});
    end = stop;
  }
  const uint64_t size = sandbox.memory().size();
  if (end < size) regions.push_back({end, size - end, true, true, false, "heap"});
  return regions;
}

}  // namespace hlrr::debug
