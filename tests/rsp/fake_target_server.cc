// Serves a FakeTarget over TCP for the gdb/lldb end-to-end tests.
//   hlrr_rsp_fake_target_server [--reverse] [--run-forever] [--exec=PATH] [--verbose] [--port=N]
// Prints "port N" once listening; exits 0 when the target has finished (killed/exited/detached).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "rsp/server.h"
#include "tests/rsp/fake_target.h"

int main(int argc, char** argv) {
  using hlrr::rsp::Server;
  hlrr::rsp::testing::FakeTarget target;
  hlrr::rsp::ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--reverse") {
      target.reverse_enabled = true;
    } else if (arg == "--run-forever") {
      // No exit address, and a slow continue, so that only an interrupt stops it.
      target.exit_at.reset();
      target.step_delay = std::chrono::microseconds(100);
    } else if (arg == "--verbose") {
      options.log = [](std::string_view message) {
        std::fprintf(stderr, "rsp: %.*s\n", static_cast<int>(message.size()), message.data());
      };
    } else if (arg.starts_with("--exec=")) {
      // Serve this very executable's bytes as the guest ELF, under a path that doesn't exist
      // on the host, so gdb must fetch it over vFile.
      target.exec_path = arg.substr(7);
      std::ifstream self("/proc/self/exe", std::ios::binary);
      target.exec_bytes.assign(std::istreambuf_iterator<char>(self), {});
    } else if (arg.starts_with("--port=")) {
      options.port = static_cast<uint16_t>(std::stoi(arg.substr(7)));
    } else {
      std::fprintf(stderr, "unknown argument: %s\n", argv[i]);
      return 2;
    }
  }
  // A write watchpoint target: the instruction at 0x1004 writes to 0x4000.
  target.accesses[0x1004] = {0x4000, true};
  auto server = Server::create(target, options);
  if (!server) {
    std::fprintf(stderr, "%s\n", server.error().message.c_str());
    return 1;
  }
  std::printf("port %u\n", (*server)->port());
  std::fflush(stdout);
  auto end = (*server)->run();
  if (!end) {
    std::fprintf(stderr, "%s\n", end.error().message.c_str());
    return 1;
  }
  std::printf("end %s\n", *end == Server::End::kTargetFinished ? "target-finished" : "stopped");
  return 0;
}
