// The first record of a trace: everything replay needs to rebuild a sandbox as it stands when
// recording starts (the ELF, the configuration, the backend and CPU model, the memory layout,
// the register file and every non-zero page).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "trace_format/records.h"
#include "vmm/elf_image.h"
#include "vmm/sandbox.h"

namespace hlrr::recorder {

// Reads `sandbox`'s current state (registers, all of guest memory). Fails only if the CPU
// model cannot be computed or the registers cannot be read.
base::Expected<trace::Setup> build_setup(vmm::Sandbox& sandbox, const std::string& guest_name);

// The same for an earlier state of an idle, initialised `sandbox`: `registers` and `memory` (the
// whole guest memory, as large as the sandbox's) instead of the current ones. The flight
// recorder starts its kept traces this way, at the start of a call that has since run.
base::Expected<trace::Setup> build_setup_from(vmm::Sandbox& sandbox, const std::string& guest_name,
                                              const trace::Registers& registers,
                                              std::span<const uint8_t> memory);

// hl_abi.h's fixed regions, then the image's segments and the heap, in address order.
std::vector<trace::MemoryRegion> memory_layout(const vmm::ElfImage& image, uint64_t memory_size);

// One line per non-deterministic instruction in the guest's code (the loader's Capstone scan),
// for a recording on KVM, which cannot trap them:
// "clock.elf: rdtsc at 0x100123 in stamp+0x4 cannot be recorded on KVM; replay will diverge
// (use --vcpu unicorn)".
std::vector<std::string> kvm_nondet_warnings(const vmm::ElfImage& image,
                                             const std::string& guest_name);

}  // namespace hlrr::recorder
