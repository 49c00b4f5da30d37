// ExitObserver: sees everything that crosses the boundary between a guest and its host, in
// order: the start of each guest call, every vCPU exit with the register file at the exit and
// the bytes the host wrote into guest memory while handling it, and the end of each call.
// The recorder is one; tests use others. Called on the thread driving the sandbox.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "vmm/fault.h"
#include "vmm/guest_memory.h"
#include "vmm/register_file.h"
#include "vmm/value.h"
#include "vmm/vcpu_exit.h"

namespace hlrr::vmm {

class ExitObserver {
 public:
  virtual ~ExitObserver() = default;
  // A guest call begins: `registers` as the vCPU will start it, `writes` the host's writes into
  // guest memory since the previous call: the pages a Sandbox::restore() put back, then the
  // call's arguments as the host placed them. The guest's initialisation is reported as a call
  // named "" with no arguments.
  virtual void on_call_start(std::string_view function, std::span<const Value> args,
                             const RegisterFile& registers, std::span<const HostWrite> writes) = 0;
  // The vCPU exited; `registers` as they were at the exit (before the host handled it).
  virtual void on_exit(const VcpuExit& exit, const RegisterFile& registers,
                       std::span<const HostWrite> writes) = 0;
  // The vCPU stopped before a non-deterministic instruction at `rip` (software vCPU only) and the
  // host supplied its result (`value`, `extra` as Vcpu::set_nondet_result() takes them). Not an
  // exit of the call: no host writes, and on_exit() is not called for it.
  virtual void on_nondet(NondetInstruction /*kind*/, uint64_t /*rip*/, uint64_t /*value*/,
                         uint64_t /*extra*/) {}
  // A debugger asks to change the guest while the vCPU is paused between exits: `write` is the
  // memory it is about to write, nullptr for registers. An error refuses the change with its one
  // line. The recorder records memory writes where it can place them (a DebuggerWrite at the
  // software vCPU's instruction count) and refuses the rest (docs/recording.md).
  virtual base::Status on_debugger_write(const HostWrite* /*write*/) { return {}; }
  // The call ended with a value or a fault.
  virtual void on_call_end(const base::Expected<Value, Fault>& result) = 0;
};

}  // namespace hlrr::vmm
