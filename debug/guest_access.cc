#include "debug/guest_access.h"

#include "vmm/long_mode.h"

namespace hlrr::debug {

base::Status check_guest_access(uint64_t address, uint64_t size, uint64_t memory_size) {
  if (vmm::unmapped_in_guest(address, size)) return base::fail("not mapped in the guest");
  if (address > memory_size || size > memory_size - address) {
    return base::fail("outside guest memory");
  }
  return {};
}

}  // namespace hlrr::debug
