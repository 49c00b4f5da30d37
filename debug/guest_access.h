// Which guest addresses a debugger may read and write: the guest's own view of its memory, the
// same for the live and the replay target.
#pragma once

#include <cstdint>

#include "base/expected.h"

namespace hlrr::debug {

// Ok if [address, address + size) lies in guest memory of `memory_size` bytes and touches
// neither page 0 nor the stack guard page (which the guest cannot access either,
// vmm::unmapped_in_guest); else one line: "not mapped in the guest" or "outside guest memory".
base::Status check_guest_access(uint64_t address, uint64_t size, uint64_t memory_size);

}  // namespace hlrr::debug
