#include "cli/fault_core.h"

#include <csignal>
#include <cstdio>
#include <vector>

#include "debug/core_dump.h"
#include "debug/live_target.h"

namespace hlrr::cli {

void write_fault_core(vmm::Sandbox& sandbox, const std::string& path, const std::string& program) {
  auto registers = sandbox.vcpu().registers();
  if (!registers) {
    std::fprintf(stderr, "hlrun: --core-on-fault: %s\n", registers.error().message.c_str());
    return;
  }
  const std::vector<rsp::MemoryRegion> regions = debug::guest_memory_regions(sandbox);
  const debug::CoreDump dump{.registers = &*registers,
                             .memory = &sandbox.memory(),
                             .regions = regions,
                             .program = program,
                             .signal = SIGSEGV};
  if (auto st = debug::write_core_dump(path, dump); !st)
    std::fprintf(stderr, "hlrun: --core-on-fault: %s\n", st.error().message.c_str());
  else
    std::fprintf(stderr, "hlrun: core written to %s\n", path.c_str());
  std::fflush(stderr);
}

}  // namespace hlrr::cli
