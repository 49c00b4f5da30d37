// hlrun -g / --listen: run one guest call under gdb or lldb (wiring of Sandbox, LiveTarget and
// the rsp server).
#pragma once

#include <string>
#include <vector>

#include "base/expected.h"
#include "rsp/server.h"
#include "vmm/sandbox.h"
#include "vmm/value.h"

namespace hlrr::cli {

struct DebugListen {
  std::string address;  // "": loopback, 127.0.0.1 and ::1 (rsp::ServerOptions::address)
  uint16_t port = 0;    // 0: an ephemeral port, printed
};

// "PORT" (loopback of both families: a debug port is full control of the guest) or
// "ADDR:PORT", one address only: 127.0.0.1:1234, [::1]:1234, localhost:1234.
base::Expected<DebugListen> parse_listen(const std::string& text);

// Where `server` listens and how to connect, for the "waiting for a debugger" line:
// "127.0.0.1:P and [::1]:P (gdb: target remote :P, lldb: gdb-remote P)".
std::string listening_text(const rsp::Server& server);

// Serves one debug session over `sandbox`, fresh from Sandbox::load() (stopped at the guest's
// entry): prints where it listens (one line on stderr); the initialisation and the call run as
// one program. Prints the guest's output and `result: VALUE` as hlrun does, or the fault.
// With `core_on_fault`, a fault of the guest writes its core there (cli/fault_core.h) as the
// vCPU stops at it, before the debugger is told. Returns hlrun's exit code: 0, 1 (guest fault,
// or killed by the debugger), 2 (bad address).
int run_under_debugger(vmm::Sandbox& sandbox, const std::string& guest_path,
                       const std::string& function, std::vector<vmm::Value> args,
                       const DebugListen& listen, const std::string& core_on_fault, bool verbose);

}  // namespace hlrr::cli
