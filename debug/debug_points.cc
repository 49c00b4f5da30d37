#include "debug/debug_points.h"

#include <algorithm>

namespace hlrr::debug {
namespace {

vmm::DebugPoint to_vcpu(rsp::BreakpointKind kind, uint64_t address, uint64_t length) {
  const vmm::DebugPointKind k = vcpu_kind(kind);
  return vmm::DebugPoint{k, address, k == vmm::DebugPointKind::kBreakpoint ? 1 : length};
}

}  // namespace

vmm::DebugPointKind vcpu_kind(rsp::BreakpointKind kind) {
  switch (kind) {
    case rsp::BreakpointKind::kWriteWatch:
      return vmm::DebugPointKind::kWriteWatch;
    case rsp::BreakpointKind::kReadWatch:
      return vmm::DebugPointKind::kReadWatch;
    case rsp::BreakpointKind::kAccessWatch:
      return vmm::DebugPointKind::kAccessWatch;
    case rsp::BreakpointKind::kSoftware:
    case rsp::BreakpointKind::kHardware:
      break;
  }
  return vmm::DebugPointKind::kBreakpoint;
}

base::Expected<bool> DebugPoints::insert(rsp::BreakpointKind kind, uint64_t address,
                                         uint64_t length, uint64_t memory_size) {
  const vmm::DebugPoint checked = to_vcpu(kind, address, length);
  if (auto st = vmm::check_debug_points(std::span(&checked, 1), memory_size); !st) {
    return base::Unexpected(std::move(st).error());
  }
  const Point point{kind, address, length};
  if (std::find(points_.begin(), points_.end(), point) != points_.end()) return false;
  points_.push_back(point);
  return true;
}

bool DebugPoints::remove(rsp::BreakpointKind kind, uint64_t address, uint64_t length) {
  const auto it = std::find(points_.begin(), points_.end(), Point{kind, address, length});
  if (it == points_.end()) return false;
  points_.erase(it);
  return true;
}

std::vector<vmm::DebugPoint> DebugPoints::vcpu_points() const {
  std::vector<vmm::DebugPoint> out;
  out.reserve(points_.size());
  for (const Point& p : points_) out.push_back(to_vcpu(p.kind, p.address, p.length));
  return out;
}

rsp::StopInfo DebugPoints::stop_for(vmm::DebugPointKind hit, uint64_t address) const {
  using Kind = rsp::StopInfo::Kind;
  switch (hit) {
    case vmm::DebugPointKind::kBreakpoint: {
      const bool hardware = std::any_of(points_.begin(), points_.end(), [&](const Point& p) {
        return p.kind == rsp::BreakpointKind::kHardware && p.address == address;
      });
      return hardware ? rsp::StopInfo::hw_break() : rsp::StopInfo::sw_break();
    }
    case vmm::DebugPointKind::kWriteWatch:
      return rsp::StopInfo::watch(Kind::kWatch, address);
    case vmm::DebugPointKind::kReadWatch:
      return rsp::StopInfo::watch(Kind::kRWatch, address);
    case vmm::DebugPointKind::kAccessWatch:
      return rsp::StopInfo::watch(Kind::kAWatch, address);
  }
  return rsp::StopInfo::stopped(rsp::kSigTrap);
}

}  // namespace hlrr::debug
