// LiveTarget: the rsp::Target over a running Sandbox, on either vCPU backend: what `hlrun -g`
// serves to gdb and lldb.
//
// Session model (as Hyperlight's): the sandbox comes from Sandbox::load(), stopped at the ELF
// entry point before the guest's initialisation. The initialisation and then one guest call
// run as one continuous program: host calls are served during continue/step as usual, and
// when the call returns the target reports exited (`W00`); its value is in result().
//
// Stops: breakpoints (software and hardware alike are vCPU debug points, never bytes in guest
// memory, so memory reads show the real code), watchpoints of any number and length, single steps,
// interrupts. A guest fault is a signal stop at the faulting instruction (SIGSEGV for #PF/#GP/out
// of bounds/triple fault, SIGILL for #UD or an unsupported instruction, SIGFPE for #DE, SIGABRT for
// a panic, a bad host call or port, a refused call or a VMM error); resuming after it ends the
// program (`X..`) with the fault as result().
//
// Threading: as rsp::Target (every call on the server's target thread, interrupts through its
// stop token calling Vcpu::request_stop()). The sandbox is not owned and must outlive the
// target; nothing else may drive it while the server runs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "debug/debug_points.h"
#include "rsp/target.h"
#include "vmm/fault.h"
#include "vmm/sandbox.h"
#include "vmm/value.h"

namespace hlrr::debug {

using vmm::Fault;
using vmm::RunOutcome;
using vmm::Sandbox;
using vmm::Value;
using vmm::VcpuExit;

// The guest memory a sandbox's guest can access (hl_abi.h's layout: not page 0, not the stack
// guard page), with permissions: for qMemoryRegionInfo and core dumps.
std::vector<rsp::MemoryRegion> guest_memory_regions(const Sandbox& sandbox);

class LiveTarget final : public rsp::Target {
 public:
  // `sandbox` must be fresh from Sandbox::load(). `exec_path` is the guest ELF's path, made
  // absolute (gdb's qXfer:exec-file; the bytes are served from the sandbox's image over vFile).
  LiveTarget(Sandbox& sandbox, std::string function, std::vector<Value> args,
             std::string exec_path);

  // How the program ended, once it has: the call's value or its fault. Empty while it can
  // still run (also after kill()).
  const std::optional<base::Expected<Value, Fault>>& result() const { return result_; }
  bool killed() const { return killed_; }
  bool detached() const { return detached_; }
  // Called when the guest faults, with the vCPU stopped in the faulting state and before the
  // debugger is told (e.g. to write a core: hlrun --core-on-fault). On the thread running
  // resume() or run_to_end().
  void set_fault_hook(std::function<void(const Fault&)> hook) { fault_hook_ = std::move(hook); }
  // Runs the program to its end without stopping (after detach(), breakpoints are gone).
  // Blocking; on the thread that ran the resumes (cli::LiveSession: its target thread), once the
  // server no longer serves this target.
  void run_to_end();

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
  base::Status kill() override;
  base::Status detach() override;
  bool supports_breakpoint(rsp::BreakpointKind) const override { return true; }
  std::string exec_file_path() const override { return exec_path_; }
  std::span<const uint8_t> exec_file_bytes() const override { return sandbox_.image().bytes(); }
  std::vector<rsp::MemoryRegion> memory_regions() const override;

 private:
  // The stop or end for what the sandbox's resume() returned; nullopt: keep running.
  std::optional<rsp::StopInfo> on_outcome(RunOutcome outcome, bool stepping);
  base::Status apply_points();

  Sandbox& sandbox_;
  std::string function_;
  std::vector<Value> args_;
  std::string exec_path_;
  debug::DebugPoints points_;
  std::function<void(const Fault&)> fault_hook_;
  std::optional<Fault> pending_fault_;  // stopped at a fault: the next resume ends the program
  std::optional<base::Expected<Value, Fault>> result_;
  bool in_call_ = false;  // the initialisation is over and the guest call has begun
  bool killed_ = false;
  bool detached_ = false;
};

}  // namespace hlrr::debug
