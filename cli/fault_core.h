// hlrun --core-on-fault: the guest's faulting state as an ELF core (debug/core_dump.h), written
// the same way after a plain call and in a -g session.
#pragma once

#include <string>

#include "vmm/sandbox.h"

namespace hlrr::cli {

// Writes the state the vCPU stopped in (at the faulting instruction for a CPU exception) to
// `path` as a core of `program`, and prints one line on stderr: where it went, or why not.
void write_fault_core(vmm::Sandbox& sandbox, const std::string& path, const std::string& program);

}  // namespace hlrr::cli
