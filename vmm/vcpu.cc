#include "vmm/vcpu.h"

#include "base/hex.h"

namespace hlrr::vmm {

base::Status check_debug_points(std::span<const DebugPoint> points, uint64_t memory_size) {
  for (const DebugPoint& p : points) {
    const uint64_t length = p.kind == DebugPointKind::kBreakpoint ? 1 : p.length;
    if (length == 0) return base::fail("a watchpoint must cover at least one byte");
    if (p.address >= memory_size || length > memory_size - p.address) {
      return base::fail("breakpoint or watchpoint at " + base::hex(p.address) + " (" +
                        std::to_string(length) + " bytes) is outside guest memory");
    }
  }
  return {};
}

}  // namespace hlrr::vmm
