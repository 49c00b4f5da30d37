// A host program embedding hlrr: load a guest, add a host function, serve a pool of calls each
// from the clean post-initialisation state, and report a guest fault as a value.
//
//   ./build/examples/host_example build/guests/hello.elf
#include <cstdio>
#include <string>

#include "vmm/sandbox.h"

using namespace hlrr;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: host_example GUEST.elf\n");
    return 2;
  }
  vmm::SandboxConfig config;
  std::string captured;
  config.output = [&captured](std::string_view text) { captured += text; };
  auto sandbox = vmm::Sandbox::create_from_file(argv[1], std::move(config));
  if (!sandbox) {
    std::fprintf(stderr, "host_example: %s\n", sandbox.error().message.c_str());
    return 2;
  }
  const vmm::Snapshot clean = (*sandbox)->snapshot();
  for (const char* name : {"Ada", "Grace", "Barbara"}) {
    const vmm::Value args[] = {std::string(name)};
    auto result = (*sandbox)->call("greet", args);
    if (!result) {
      std::fprintf(stderr, "host_example: guest fault: %s\n", result.error().to_string().c_str());
      return 1;
    }
    std::printf("greet(%s) = %s\n", name, vmm::to_string(*result).c_str());
    if (auto st = (*sandbox)->restore(clean); !st) {
      std::fprintf(stderr, "host_example: %s\n", st.error().message.c_str());
      return 1;
    }
  }
  std::printf("the guest printed:\n%s", captured.c_str());
  return 0;
}
