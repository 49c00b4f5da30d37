#include "replay/replay_target.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/hex.h"
#include "convert/registers.h"
#include "debug/core_dump.h"
#include "debug/guest_access.h"
#include "debug/stops.h"
#include "hl_abi.h"
#include "rsp/registers.h"

namespace hlrr::replay {
namespace {

using base::hex;
using debug::kSigAbrt;
using debug::kSigSys;

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  std::string s(text);
  char* end = nullptr;
  out = std::strtoull(s.c_str(), &end, 0);
  return *end == '\0';
}

}  // namespace

ReplayTarget::ReplayTarget(Timeline& timeline) : timeline_(timeline) {}

base::Status ReplayTarget::read_registers(rsp::RegisterFile& out) {
  auto regs = timeline_.session().registers();
  if (!regs) return base::Unexpected(std::move(regs).error());
  convert::to_gdb(*regs, out);
  return {};
}

// A write starts a diversion (docs/replay.md): the recording itself never changes. Writing back
// the registers the diversion started from ends it, as gdb does after an inferior call: the
// recorded state returns exactly, memory included.
base::Status ReplayTarget::write_registers(const rsp::RegisterFile& in) {
  ReplaySession& s = timeline_.session();
  auto regs = s.registers();
  if (!regs) return base::Unexpected(std::move(regs).error());
  convert::from_gdb(in, *regs);
  timeline_.begin_diversion();
  if (auto st = s.set_registers(*regs); !st) return st;
  if (!vmm::first_difference(*regs, timeline_.diversion_origin())) timeline_.end_diversion();
  return {};
}

base::Status ReplayTarget::read_memory(uint64_t address, std::span<uint8_t> out) {
  vmm::GuestMemory& memory = timeline_.session().memory();
  if (auto st = debug::check_guest_access(address, out.size(), memory.size()); !st) return st;
  return memory.read(address, out);
}

base::Status ReplayTarget::write_memory(uint64_t address, std::span<const uint8_t> data) {
  // A write that cannot happen must not divert the replay.
  const uint64_t size = timeline_.session().memory().size();
  if (auto st = debug::check_guest_access(address, data.size(), size); !st) return st;
  timeline_.begin_diversion();
  return timeline_.session().write_memory(address, data);
}

rsp::StopInfo ReplayTarget::to_stop(const TimelineStop& stop) {
  switch (stop.kind) {
    case TimelineStop::Kind::kStep:
      return rsp::StopInfo::stopped(rsp::kSigTrap);
    case TimelineStop::Kind::kBreakpoint:
    case TimelineStop::Kind::kWatchpoint:
      return points_.stop_for(stop.point, stop.address);
    case TimelineStop::Kind::kBegin:
      return rsp::StopInfo::replay_begin();
    case TimelineStop::Kind::kEnd:
      return rsp::StopInfo::replay_end();
    case TimelineStop::Kind::kInterrupted:
      return rsp::StopInfo::interrupted();
    case TimelineStop::Kind::kDivergence:
      return debug::divergence_stop(timeline_.session().divergence());
  }
  return rsp::StopInfo::stopped();
}

rsp::StopInfo ReplayTarget::resume(rsp::ResumeAction action, std::stop_token stop) {
  if (timeline_.diverted()) {
    return diversion_stop(timeline_.run_diversion(action == rsp::ResumeAction::kStep, stop));
  }
  const bool from_end = timeline_.session().at_end();
  const TimelineStop done = action == rsp::ResumeAction::kStep ? timeline_.step_forward(stop)
                                                               : timeline_.continue_forward(stop);
  // A recording that ended in a fault ends where the live run stopped: arriving there shows the
  // fault's signal (SIGSEGV...) as live did; going on from there is the end of the history.
  const auto& fault = timeline_.session().end_fault();
  if (done.kind == TimelineStop::Kind::kEnd && !from_end && fault) {
    return rsp::StopInfo::fault(debug::signal_for(*fault));
  }
  return to_stop(done);
}

// A diversion has no recording to follow: what would need the host (a host call, port I/O,
// rdtsc & co.) stops it with SIGSYS, a panic with SIGABRT, the end of the guest call (`hlt`)
// with SIGTRAP, faults with their signals as live.
rsp::StopInfo ReplayTarget::diversion_stop(const vmm::VcpuExit& exit) {
  using vmm::ExitKind;
  switch (exit.kind) {
    case ExitKind::kDebug:
      if (!exit.has_debug_point) return rsp::StopInfo::stopped(rsp::kSigTrap);
      return points_.stop_for(exit.debug_point, exit.address);
    case ExitKind::kInstructionLimit:
    case ExitKind::kHalt:
      return rsp::StopInfo::stopped(rsp::kSigTrap);
    case ExitKind::kStopped:
      return rsp::StopInfo::interrupted();
    case ExitKind::kIoOut:
      return rsp::StopInfo::stopped(exit.port == HL_PORT_PANIC ? kSigAbrt : kSigSys);
    case ExitKind::kIoIn:
    case ExitKind::kNondet:
      return rsp::StopInfo::stopped(kSigSys);
    case ExitKind::kException:
      if (exit.vector == vmm::kDivideError) return rsp::StopInfo::fault(rsp::kSigFpe);
      if (exit.vector == vmm::kInvalidOpcode) return rsp::StopInfo::fault(rsp::kSigIll);
      return rsp::StopInfo::fault(rsp::kSigSegv);
    case ExitKind::kOutOfBounds:
    case ExitKind::kShutdown:
      return rsp::StopInfo::fault(rsp::kSigSegv);
    case ExitKind::kUnsupported:
      return rsp::StopInfo::fault(rsp::kSigIll);
    case ExitKind::kInternalError:
      break;
  }
  return rsp::StopInfo::stopped(rsp::kSigKill);
}

rsp::StopInfo ReplayTarget::reverse_step(std::stop_token stop) {
  return to_stop(timeline_.step_backward(stop));
}

rsp::StopInfo ReplayTarget::reverse_continue(std::stop_token stop) {
  return to_stop(timeline_.continue_backward(stop));
}

base::Status ReplayTarget::insert_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                             uint64_t length) {
  auto added = points_.insert(kind, address, length, timeline_.session().memory().size());
  if (!added) return base::Unexpected(std::move(added).error());
  if (!*added) return {};
  if (auto st = timeline_.set_debug_points(points_.vcpu_points()); !st) {
    points_.remove(kind, address, length);
    return st;
  }
  return {};
}

base::Status ReplayTarget::remove_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                             uint64_t length) {
  points_.remove(kind, address, length);
  return timeline_.set_debug_points(points_.vcpu_points());
}

// An absolute name, so that gdb (sysroot "target:") asks for it over vFile instead of looking a
// relative name up in its own directory; the directory says where the bytes come from.
std::string ReplayTarget::exec_file_path() const {
  const std::string name =
      std::filesystem::path(timeline_.session().setup().guest_name).filename().string();
  return std::string(kExecDirectory) + (name.empty() ? "guest.elf" : name);
}

std::span<const uint8_t> ReplayTarget::exec_file_bytes() const {
  return timeline_.session().setup().elf;
}

std::vector<rsp::MemoryRegion> ReplayTarget::memory_regions() const {
  std::vector<rsp::MemoryRegion> out;
  for (const auto& r : timeline_.session().setup().memory_layout) {
    out.push_back(rsp::MemoryRegion{r.address, r.size, (r.permissions & trace::kPermRead) != 0,
                                    (r.permissions & trace::kPermWrite) != 0,
                                    (r.permissions & trace::kPermExecute) != 0, r.name});
  }
  return out;
}

std::vector<rsp::MonitorCommands::Command> ReplayTarget::commands() const {
  return {
      {"when", "where replay is: the last exit replayed, the instruction count, the guest call"},
      {"seek", "seek EXIT: go to just after exit number EXIT"},
      {"seek-icount", "seek-icount N: go to instruction count N"},
      {"exits", "the exits around the current position (number, kind, port, count, rip, call)"},
      {"calls", "the recording's guest calls: number, function(arguments), exits, result"},
      {"seek-call", "seek-call N: go to the first instruction of call N (0: initialisation)"},
      {"core", "core PATH: write an ELF core of the guest here (gdb GUEST.elf PATH)"},
      {"checkpoints", "replay's checkpoints: how many, how far apart, their memory and CPU"},
  };
}

std::string ReplayTarget::when() {
  ReplaySession& s = timeline_.session();
  if (timeline_.diverted()) {
    return "in a diversion (an inferior call or a write) from instruction " +
           std::to_string(timeline_.diversion_count()) +
           "; a reverse command or a seek returns there\n";
  }
  std::string text = "instruction " + std::to_string(s.instruction_count());
  if (s.exits_replayed() == 0) {
    text += ", before exit 0";
  } else {
    text += ", after exit " + std::to_string(s.exits_replayed() - 1);
  }
  const auto& call = s.current_call();
  const auto number = s.current_call_number();
  if (call && number) {
    text += ", in call " + std::to_string(*number) + " (" +
            (call->empty() ? std::string("initialisation") : *call) + ")";
  } else {
    text += ", between calls";
  }
  if (s.at_end()) text += ", at the end of the recording (" + s.end_note() + ")";
  return text + "\n";
}

std::string ReplayTarget::describe_checkpoints() const {
  const Timeline& t = timeline_;
  const auto mib = [](uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); };
  char text[640];
  std::snprintf(text, sizeof text,
                "kept: %zu, every %llu instructions, %.1f MiB (cap %.1f MiB)\n"
                "recent: %zu; a continue leaves one every %llu instructions\n"
                "replayed: %llu instructions by seeks, steps and continues; %llu intervals (%llu "
                "instructions) by reverse continues\n"
                "activity map: %zu windows of %llu instructions known, %.1f MiB\n"
                "taking checkpoints: %.2f s of CPU\n",
                t.checkpoint_count(), static_cast<unsigned long long>(t.interval()),
                mib(t.checkpoint_bytes()), mib(t.memory_cap()), t.recent_checkpoint_count(),
                static_cast<unsigned long long>(t.rolling_every()),
                static_cast<unsigned long long>(t.instructions_replayed()),
                static_cast<unsigned long long>(t.intervals_replayed()),
                static_cast<unsigned long long>(t.instructions_searched()),
                t.activity().known_windows(),
                static_cast<unsigned long long>(t.activity().window()), mib(t.activity().bytes()),
                t.checkpoint_seconds());
  return text;
}

base::Expected<std::string> ReplayTarget::seek_exit(uint64_t sequence) {
  ReplaySession& s = timeline_.session();
  if (sequence >= s.recorded_exits()) {
    return base::fail("no exit " + std::to_string(sequence) + ": the recording has " +
                      std::to_string(s.recorded_exits()) + " exits");
  }
  // Known from the recording (a far seek then starts from a memory delta), or learned by
  // replaying forward until the exit is passed; then to just after it.
  if (DeltaStarts* deltas = timeline_.deltas(); deltas && s.exits().size() <= sequence) {
    if (auto st = seek_if_known(deltas->exit_count(sequence)); !st)
      return base::Unexpected(st.error());
  }
  while (s.exits().size() <= sequence) {
    if (auto st = seek_if_known(s.instruction_count() + timeline_.interval()); !st) {
      return base::Unexpected(st.error());
    }
    if (s.at_end() && s.exits().size() <= sequence) return base::fail("exit not replayable");
  }
  if (auto st = seek_if_known(s.exits()[sequence].instruction_count); !st) {
    return base::Unexpected(st.error());
  }
  return when();
}

base::Status ReplayTarget::seek_if_known(std::optional<uint64_t> count) {
  if (!count || timeline_.seek(*count).kind != TimelineStop::Kind::kDivergence) return {};
  return base::fail(timeline_.session().divergence());
}

std::string ReplayTarget::list_exits() {
  ReplaySession& s = timeline_.session();
  const auto& exits = s.exits();
  const uint64_t here = s.exits_replayed();
  const uint64_t first = here > 5 ? here - 5 : 0;
  std::string text;
  for (uint64_t i = first; i < exits.size() && i < here + 5; ++i) {
    const ExitInfo& e = exits[i];
    text += (i + 1 == here ? "=> " : "   ") + std::string("exit ") + std::to_string(e.sequence) +
            " " + trace::to_string(e.kind);
    if (e.kind == trace::ExitKind::kPortOut || e.kind == trace::ExitKind::kPortIn) {
      text += " port=" + hex(e.port);
    }
    text += " icount=" + std::to_string(e.instruction_count) + " rip=" + hex(e.rip) +
            " call=" + (e.call.empty() ? std::string("(init)") : e.call) + "\n";
  }
  if (text.empty()) text = "no exits replayed yet\n";
  return text;
}

base::Expected<const std::vector<CallInfo>*> ReplayTarget::calls() {
  if (!calls_) {
    auto calls = index_calls(timeline_.session().reader());
    if (!calls) return base::Unexpected(std::move(calls).error());
    calls_ = std::move(*calls);
  }
  return &*calls_;
}

// One line a call; "=>" marks the call in progress. Instruction counts are known once replay
// has passed the call's start (or its last exit).
base::Expected<std::string> ReplayTarget::list_calls() {
  auto calls = this->calls();
  if (!calls) return base::Unexpected(std::move(calls).error());
  ReplaySession& s = timeline_.session();
  const auto here = s.current_call_number();
  std::string text;
  for (const CallInfo& c : **calls) {
    text += (here && *here == c.index ? "=> " : "   ") + std::to_string(c.index) + " " +
            call_text(c) + ": ";
    if (c.end_exit > c.first_exit) {
      text += "exits " + std::to_string(c.first_exit) + "-" + std::to_string(c.end_exit - 1);
    } else {
      text += "no exits";
    }
    if (auto start = s.call_start(c.index)) {
      text += ", from instruction " + std::to_string(*start);
    }
    text += ", " + outcome_text(c) + "\n";
  }
  if (text.empty()) text = "the recording holds no calls\n";
  return text;
}

base::Expected<std::string> ReplayTarget::seek_call(uint64_t number) {
  auto calls = this->calls();
  if (!calls) return base::Unexpected(std::move(calls).error());
  if (number >= (*calls)->size()) {
    return base::fail("no call " + std::to_string(number) + ": the recording has calls 0-" +
                      std::to_string((*calls)->size() - 1) + " (monitor calls lists them)");
  }
  // Its start count is learned by replaying over it: from the latest call start known before
  // it (the recording's start at worst), forward, interval by interval.
  ReplaySession& s = timeline_.session();
  uint64_t from = 0;
  for (uint64_t k = number; k-- > 0;) {
    if (auto at = s.call_start(k)) {
      from = *at;
      break;
    }
  }
  // A recording whose memory deltas hold contents tells where the call starts without
  // replaying: the seek starts from the delta before it.
  if (DeltaStarts* deltas = timeline_.deltas(); deltas && !s.call_start(number)) {
    if (auto st = seek_if_known(deltas->call_start(number)); !st)
      return base::Unexpected(st.error());
  }
  if (!s.call_start(number)) {
    if (auto st = seek_if_known(from); !st) return base::Unexpected(st.error());
    while (!s.call_start(number)) {
      const TimelineStop st =
          timeline_.replay_forward(s.instruction_count() + timeline_.interval());
      if (st.kind == TimelineStop::Kind::kDivergence) return base::fail(s.divergence());
      if (st.kind == TimelineStop::Kind::kEnd && !s.call_start(number)) {
        return base::fail("call " + std::to_string(number) + " is not replayable");
      }
    }
  }
  if (auto st = seek_if_known(s.call_start(number)); !st) return base::Unexpected(st.error());
  return when();
}

base::Expected<std::string> ReplayTarget::run(std::string_view line) {
  const auto space = line.find(' ');
  const std::string_view name = line.substr(0, space);
  const std::string_view arg = space == std::string_view::npos ? "" : line.substr(space + 1);
  if (name == "when") return when();
  if (name == "exits") return list_exits();
  if (name == "calls") return list_calls();
  if (name == "checkpoints") return describe_checkpoints();
  uint64_t n = 0;
  if (name == "seek-call") {
    if (!parse_u64(arg, n)) return base::fail("usage: seek-call N (a call number, monitor calls)");
    return seek_call(n);
  }
  if (name == "seek") {
    if (!parse_u64(arg, n)) return base::fail("usage: seek EXIT (an exit number)");
    return seek_exit(n);
  }
  if (name == "core") {
    if (arg.empty()) return base::fail("usage: core PATH");
    if (auto st = write_core(std::string(arg)); !st) return base::Unexpected(st.error());
    return "core written to " + std::string(arg) + " at " + when();
  }
  if (name == "seek-icount") {
    if (!parse_u64(arg, n)) return base::fail("usage: seek-icount N (an instruction count)");
    const TimelineStop st = timeline_.seek(n);
    if (st.kind == TimelineStop::Kind::kDivergence) {
      return base::fail(timeline_.session().divergence());
    }
    return when();
  }
  return base::fail("unknown command '" + std::string(name) + "' (monitor help lists them)");
}

base::Status ReplayTarget::write_core(const std::string& path) {
  ReplaySession& session = timeline_.session();
  auto registers = session.registers();
  if (!registers) return base::fail("registers: " + registers.error().message);
  const std::vector<rsp::MemoryRegion> regions = memory_regions();
  const bool fault = session.at_end() && session.end_note().starts_with("guest fault");
  return debug::write_core_dump(
      path, {.registers = &*registers,
             .memory = &session.memory(),
             .regions = regions,
             .program = std::filesystem::path(session.setup().guest_name).filename().string(),
             .signal = fault ? SIGSEGV : SIGTRAP});
}

}  // namespace hlrr::replay
