#include "cli/debug_session.h"

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/fault_core.h"
#include "cli/live_session.h"
#include "debug/live_target.h"
#include "rsp/server.h"

namespace hlrr::cli {

base::Expected<DebugListen> parse_listen(const std::string& text) {
  DebugListen listen;
  std::string port = text;
  const auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    listen.address = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (listen.address.size() >= 2 && listen.address.front() == '[') {
      listen.address = listen.address.substr(1, listen.address.size() - 2);  // [::1]:1234
    }
  }
  char* end = nullptr;
  const unsigned long value = std::strtoul(port.c_str(), &end, 10);
  const bool no_address = colon != std::string::npos && listen.address.empty();
  if (port.empty() || *end != '\0' || value > 65535 || no_address) {
    return base::fail("expected PORT or ADDR:PORT, got '" + text + "'");
  }
  listen.port = static_cast<uint16_t>(value);
  return listen;
}

std::string listening_text(const rsp::Server& server) {
  const std::vector<std::string> endpoints = server.endpoints();
  std::string text;
  for (const std::string& endpoint : endpoints) text += (text.empty() ? "" : " and ") + endpoint;
  const std::string port = std::to_string(server.port());
  if (endpoints.size() > 1)
    return text + " (gdb: target remote :" + port + ", lldb: gdb-remote " + port + ")";
  return text + " (gdb: target remote " + text + ")";
}

int run_under_debugger(vmm::Sandbox& sandbox, const std::string& guest_path,
                       const std::string& function, std::vector<vmm::Value> args,
                       const DebugListen& listen, const std::string& core_on_fault, bool verbose) {
  rsp::ServerOptions options{.address = listen.address, .port = listen.port};
  if (verbose)
    options.log = [](std::string_view line) {
      std::fprintf(stderr, "hlrun: rsp: %.*s\n", static_cast<int>(line.size()), line.data());
    };
  auto session = LiveSession::create(sandbox, function, std::move(args), guest_path, options);
  if (!session) return std::fprintf(stderr, "hlrun: %s\n", session.error().message.c_str()), 2;
  debug::LiveTarget& target = (*session)->target();
  if (!core_on_fault.empty()) {
    // As without a debugger: the faulting state, not what a debugger makes of it afterwards.
    const std::string program = std::filesystem::path(guest_path).filename().string();
    target.set_fault_hook([&sandbox, core_on_fault, program](const vmm::Fault& fault) {
      if (fault.kind != vmm::FaultKind::kGuestError)
        write_fault_core(sandbox, core_on_fault, program);
    });
  }
  std::fprintf(stderr,
               "hlrun: %s backend, stopped at the guest's entry; waiting for a debugger on %s\n",
               std::string(sandbox.vcpu().backend_name()).c_str(),
               listening_text((*session)->server()).c_str());
  std::fflush(stderr);
  if (auto st = (*session)->run(); !st) {
    return std::fprintf(stderr, "hlrun: debug server: %s\n", st.error().message.c_str()), 1;
  }
  std::fflush(stdout);
  if (target.killed()) return std::fprintf(stderr, "hlrun: killed by the debugger\n"), 1;
  const auto& result = *target.result();
  if (!result && result.error().kind == vmm::FaultKind::kGuestError) {
    // The guest refused the call (unknown function, wrong arguments): a usage error.
    return std::fprintf(stderr, "hlrun: %s\n", result.error().to_string().c_str()), 2;
  }
  if (!result) {
    return std::fprintf(stderr, "hlrun: guest fault: %s\n", result.error().to_string().c_str()), 1;
  }
  std::printf("result: %s\n", vmm::to_string(*result).c_str());
  return 0;
}

}  // namespace hlrr::cli
