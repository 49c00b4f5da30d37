// hlrun -g / --listen: run one guest call under gdb or lldb (wiring of Sandbox, LiveTarget and
// the rsp server).
#pragma once

#include <string>
#include <vector>

#include "base/expected.h"
#include "vmm/sandbox.h"
#include "vmm/value.h"

namespace hlrr::cli {

struct DebugListen {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port, printed
};

// "ADDR:PORT" or "PORT" (address 127.0.0.1): a debug port is full control of the guest.
base::Expected<DebugListen> parse_listen(const std::string& text);

// Serves one debug session over `sandbox`, fresh from Sandbox::load() (stopped at the guest's
// entry): prints where it listens (one line on stderr); the initialisation and the call run as
// one program. Prints the guest's output and `result: VALUE` as hlrun does, or the fault.
// Returns hlrun's exit code: 0, 1 (guest fault, or killed by the debugger), 2 (bad address).
int run_under_debugger(vmm::Sandbox& sandbox, const std::string& guest_path,
                       const std::string& function, std::vector<vmm::Value> args,
                       const DebugListen& listen, bool verbose);

}  // namespace hlrr::cli
