// ReplayTarget: the rsp::Target over a recording. gdb/lldb debug a replay as they debug a live
// guest, plus reverse execution (bs/bc: reverse-stepi, -step, -next, -finish, -continue) and
// `monitor` commands that expose the timeline. A recording cannot be changed: a register or
// memory write starts a diversion (Timeline::begin_diversion(), docs/replay.md), which lets
// gdb call guest functions (`print f(x)`, breakpoint conditions) and ends when gdb writes back
// the registers it started from, or at the next reverse command or seek.
//
// Threading as rsp::Target's contract: resume() and the reverse methods run on the server's
// worker thread and poll the stop token between checkpoint intervals; nothing else runs
// concurrently with them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "debug/debug_points.h"
#include "replay/call_index.h"
#include "replay/timeline.h"
#include "rsp/target.h"

namespace hlrr::replay {

class ReplayTarget final : public rsp::Target,
                           public rsp::ReverseExecution,
                           public rsp::MonitorCommands {
 public:
  // Where gdb is told the guest ELF is (qXfer:exec-file): no such directory exists on the
  // host; gdb reads the recording's embedded ELF over vFile.
  static constexpr std::string_view kExecDirectory = "/hlrr-recording/";

  // `timeline` must outlive the target.
  explicit ReplayTarget(Timeline& timeline);

  // rsp::Target
  base::Status read_registers(rsp::RegisterFile& out) override;
  base::Status write_registers(const rsp::RegisterFile& in) override;
  base::Status read_memory(uint64_t address, std::span<uint8_t> out) override;
  base::Status write_memory(uint64_t address, std::span<const uint8_t> data) override;
  rsp::StopInfo resume(rsp::ResumeAction action, std::stop_token stop) override;
  base::Status insert_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                 uint64_t length) override;
  base::Status remove_breakpoint(rsp::BreakpointKind kind, uint64_t address,
                                 uint64_t length) override;
  base::Status kill() override { return {}; }
  base::Status detach() override { return {}; }
  bool supports_breakpoint(rsp::BreakpointKind) const override { return true; }
  std::string exec_file_path() const override;
  std::span<const uint8_t> exec_file_bytes() const override;
  std::vector<rsp::MemoryRegion> memory_regions() const override;
  rsp::ReverseExecution* reverse() override { return this; }
  rsp::MonitorCommands* monitor() override { return this; }

  // rsp::ReverseExecution
  rsp::StopInfo reverse_step(std::stop_token stop) override;
  rsp::StopInfo reverse_continue(std::stop_token stop) override;

  // rsp::MonitorCommands
  std::vector<Command> commands() const override;
  base::Expected<std::string> run(std::string_view command_line) override;

  // "instruction 34567, after exit 12, in call 3 (add_sample)" (monitor when).
  std::string when();
  std::string describe_checkpoints() const;

  // An ELF core of the guest where replay is (debug/core_dump.h): `monitor core PATH` and
  // `hlreplay --core-at`. SIGSEGV at the end of a recording that faulted, SIGTRAP elsewhere.
  base::Status write_core(const std::string& path);

 private:
  rsp::StopInfo to_stop(const TimelineStop& stop);
  rsp::StopInfo diversion_stop(const vmm::VcpuExit& exit);
  base::Expected<std::string> seek_exit(uint64_t sequence);
  // Seeks to `count` when it is known (nothing otherwise); a divergence on the way is the error.
  base::Status seek_if_known(std::optional<uint64_t> count);
  std::string list_exits();
  base::Expected<std::string> list_calls();
  base::Expected<std::string> seek_call(uint64_t number);
  // The recording's calls, read once (replay/call_index.h).
  base::Expected<const std::vector<CallInfo>*> calls();

  Timeline& timeline_;
  debug::DebugPoints points_;
  std::optional<std::vector<CallInfo>> calls_;
};

}  // namespace hlrr::replay
