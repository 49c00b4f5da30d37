#include "debug/live_target.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "convert/registers.h"
#include "debug/guest_access.h"
#include "debug/stops.h"
#include "hl_abi.h"

namespace hlrr::debug {

using namespace vmm;  // LiveTarget is written in the vCPU's terms

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
  convert::to_gdb(*regs, out);
  return {};
}

base::Status LiveTarget::write_registers(const rsp::RegisterFile& in) {
  if (auto st = sandbox_.allow_debugger_write(nullptr); !st) return st;
  auto regs = sandbox_.vcpu().registers();
  if (!regs) return base::Unexpected(std::move(regs).error());
  convert::from_gdb(in, *regs);
  return sandbox_.vcpu().set_registers(*regs);
}

base::Status LiveTarget::read_memory(uint64_t address, std::span<uint8_t> out) {
  if (auto st = debug::check_guest_access(address, out.size(), sandbox_.memory().size()); !st) {
    return st;
  }
  return sandbox_.memory().read(address, out);
}

base::Status LiveTarget::write_memory(uint64_t address, std::span<const uint8_t> data) {
  if (auto st = debug::check_guest_access(address, data.size(), sandbox_.memory().size()); !st) {
    return st;
  }
  const HostWrite write{address, {data.begin(), data.end()}};
  if (auto st = sandbox_.allow_debugger_write(&write); !st) return st;
  if (auto st = sandbox_.memory().write(address, data); !st) return st;
  sandbox_.vcpu().code_modified(address, data.size());
  return {};
}

rsp::StopInfo LiveTarget::resume(rsp::ResumeAction action, std::stop_token stop) {
  if (result_) {
    return result_->has_value() ? rsp::StopInfo::exited(0)
                                : rsp::StopInfo::terminated(debug::signal_for(result_->error()));
  }
  if (pending_fault_) {
    // Continuing from a fault: the guest cannot handle it, so the program ends here.
    const uint8_t sig = debug::signal_for(*pending_fault_);
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
      if (outcome.exit.has_debug_point) {
        return points_.stop_for(outcome.exit.debug_point, outcome.exit.address);
      }
      return rsp::StopInfo::stopped(rsp::kSigTrap);
    case RunOutcome::Kind::kFaulted:
      pending_fault_ = std::move(outcome.fault);
      if (fault_hook_) fault_hook_(*pending_fault_);
      return rsp::StopInfo::fault(debug::signal_for(*pending_fault_));
    case RunOutcome::Kind::kReturned:
      break;
  }
  if (sandbox_.call_in_progress() || !sandbox_.initialized()) {
    result_ = base::Unexpected(Fault{.kind = FaultKind::kInternal, .message = "lost the call"});
    return rsp::StopInfo::terminated(debug::kSigAbrt);
  }
  if (!in_call_) {
    // The initialisation finished: the guest call follows as part of the same program.
    in_call_ = true;
    if (auto st = sandbox_.begin_call(function_, args_); !st) {
      result_ =
          base::Unexpected(Fault{.kind = FaultKind::kGuestError, .message = st.error().message});
      return rsp::StopInfo::terminated(debug::kSigAbrt);
    }
    if (stepping) return rsp::StopInfo::stopped(rsp::kSigTrap);
    return std::nullopt;
  }
  result_ = std::move(outcome.value);
  return rsp::StopInfo::exited(0);
}

base::Status LiveTarget::apply_points() {
  return sandbox_.vcpu().set_debug_points(points_.vcpu_points());
}

base::Status LiveTarget::insert_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                           uint64_t length) {
  auto added = points_.insert(kind, address, length, sandbox_.memory().size());
  if (!added) return base::Unexpected(std::move(added).error());
  if (!*added) return {};
  if (auto st = apply_points(); !st) {
    points_.remove(kind, address, length);
    return st;
  }
  return {};
}

base::Status LiveTarget::remove_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                           uint64_t length) {
  if (!points_.remove(kind, address, length)) return {};
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
