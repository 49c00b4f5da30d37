// DebugPoints: the breakpoints and watchpoints a debugger client has inserted (Z0-Z4), kept
// with the kind it asked for, as the vCPU's debug points (vmm::DebugPoint) and back as the stop
// a hit is reported with. Shared by the live and the replay target (docs/debugging.md).
#pragma once

#include <cstdint>
#include <vector>

#include "base/expected.h"
#include "rsp/target.h"
#include "vmm/vcpu.h"

namespace hlrr::debug {

class DebugPoints {
 public:
  // Adds a point; true if it was new, false if it was already there. Refused in one line
  // (nothing added) if it lies outside guest memory of `memory_size` bytes or is an empty
  // watchpoint (vmm::check_debug_points). `length` is the Z packet's: the kind for
  // breakpoints, the watched bytes for watchpoints.
  base::Expected<bool> insert(rsp::BreakpointKind kind, uint64_t address, uint64_t length,
                              uint64_t memory_size);
  // Takes a point out again; false if it was not there.
  bool remove(rsp::BreakpointKind kind, uint64_t address, uint64_t length);
  void clear() { points_.clear(); }

  // The points as the vCPU (or the replay timeline) takes them: a breakpoint covers one byte.
  std::vector<vmm::DebugPoint> vcpu_points() const;

  // The stop for a hit of a vCPU debug point: a breakpoint is `hwbreak` if the client inserted
  // a hardware breakpoint at `address` (Z1), else `swbreak`; a watchpoint
  // is watch/rwatch/awatch at `address`.
  rsp::StopInfo stop_for(vmm::DebugPointKind hit, uint64_t address) const;

 private:
  struct Point {
    rsp::BreakpointKind kind;
    uint64_t address;
    uint64_t length;
    bool operator==(const Point&) const = default;
  };
  std::vector<Point> points_;
};

// The vCPU's kind for a Z packet's kind.
vmm::DebugPointKind vcpu_kind(rsp::BreakpointKind kind);

}  // namespace hlrr::debug
