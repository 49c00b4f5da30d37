// The debug layer shared by the live and the replay target: debugger points and the stops they
// are reported as, fault signals, divergence stops, which guest memory a debugger may touch.
#include <gtest/gtest.h>

#include "debug/debug_points.h"
#include "debug/guest_access.h"
#include "debug/stops.h"
#include "hl_abi.h"

namespace hlrr::debug {
namespace {

using rsp::BreakpointKind;
using Kind = rsp::StopInfo::Kind;
constexpr uint64_t kMemory = 16 << 20;

TEST(DebugPoints, ABreakpointHitIsReportedAsTheKindTheClientInserted) {
  DebugPoints points;
  ASSERT_TRUE(points.insert(BreakpointKind::kHardware, 0x401000, 1, kMemory));
  ASSERT_TRUE(points.insert(BreakpointKind::kSoftware, 0x402000, 1, kMemory));
  EXPECT_EQ(points.stop_for(vmm::DebugPointKind::kBreakpoint, 0x401000).kind, Kind::kHwBreak);
  EXPECT_EQ(points.stop_for(vmm::DebugPointKind::kBreakpoint, 0x402000).kind, Kind::kSwBreak);
  EXPECT_TRUE(points.remove(BreakpointKind::kHardware, 0x401000, 1));
  EXPECT_EQ(points.stop_for(vmm::DebugPointKind::kBreakpoint, 0x401000).kind, Kind::kSwBreak);
}

TEST(DebugPoints, WatchpointHitsCarryTheirKindAndAddress) {
  const DebugPoints points;
  EXPECT_EQ(points.stop_for(vmm::DebugPointKind::kWriteWatch, 0x5000),
            rsp::StopInfo::watch(Kind::kWatch, 0x5000));
  EXPECT_EQ(points.stop_for(vmm::DebugPointKind::kReadWatch, 0x5008),
            rsp::StopInfo::watch(Kind::kRWatch, 0x5008));
  EXPECT_EQ(points.stop_for(vmm::DebugPointKind::kAccessWatch, 0x5010),
            rsp::StopInfo::watch(Kind::kAWatch, 0x5010));
}

TEST(DebugPoints, VcpuPointsAreDedupedAndBreakpointsCoverOneByte) {
  DebugPoints points;
  EXPECT_EQ(points.insert(BreakpointKind::kSoftware, 0x401000, 1, kMemory).value(), true);
  EXPECT_EQ(points.insert(BreakpointKind::kSoftware, 0x401000, 1, kMemory).value(), false);
  EXPECT_EQ(points.insert(BreakpointKind::kAccessWatch, 0x6000, 8, kMemory).value(), true);
  const std::vector<vmm::DebugPoint> expected = {{vmm::DebugPointKind::kBreakpoint, 0x401000, 1},
                                                 {vmm::DebugPointKind::kAccessWatch, 0x6000, 8}};
  EXPECT_EQ(points.vcpu_points(), expected);
  EXPECT_FALSE(points.remove(BreakpointKind::kHardware, 0x401000, 1));
  points.clear();
  EXPECT_TRUE(points.vcpu_points().empty());
}

TEST(DebugPoints, PointsOutsideGuestMemoryAreRefusedInOneLine) {
  DebugPoints points;
  auto outside = points.insert(BreakpointKind::kWriteWatch, kMemory - 4, 8, kMemory);
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().message,
            "breakpoint or watchpoint at 0xfffffc (8 bytes) is outside guest memory");
  auto empty = points.insert(BreakpointKind::kReadWatch, 0x5000, 0, kMemory);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "a watchpoint must cover at least one byte");
  EXPECT_TRUE(points.vcpu_points().empty());
}

TEST(Stops, FaultSignals) {
  EXPECT_EQ(signal_for({.kind = vmm::FaultKind::kPageFault}), rsp::kSigSegv);
  EXPECT_EQ(signal_for({.kind = vmm::FaultKind::kInvalidOpcode}), rsp::kSigIll);
  EXPECT_EQ(signal_for({.kind = vmm::FaultKind::kDivideError}), rsp::kSigFpe);
  EXPECT_EQ(signal_for({.kind = vmm::FaultKind::kTimeout}), kSigAlrm);
  EXPECT_EQ(signal_for({.kind = vmm::FaultKind::kPanic}), kSigAbrt);
  EXPECT_EQ(signal_for({.kind = vmm::FaultKind::kOtherException, .vector = 12}), rsp::kSigSegv);
  EXPECT_EQ(signal_for({.kind = vmm::FaultKind::kOtherException, .vector = 3}), rsp::kSigTrap);
}

TEST(Stops, ADivergenceIsASigabrtStopThatSaysWhy) {
  const rsp::StopInfo stop = divergence_stop("exit 3 (port-out 0x6c00) at instruction 9: rbx");
  EXPECT_EQ(stop.kind, Kind::kSignal);
  EXPECT_EQ(stop.signal, kSigAbrt);
  EXPECT_FALSE(stop.is_final());
  EXPECT_EQ(stop.message, "replay diverged: exit 3 (port-out 0x6c00) at instruction 9: rbx\n");
}

TEST(GuestAccess, HiddenPagesAndMemoryBounds) {
  EXPECT_TRUE(check_guest_access(HL_PAGE_SIZE, 16, kMemory));
  EXPECT_TRUE(check_guest_access(kMemory - 16, 16, kMemory));
  EXPECT_EQ(check_guest_access(0, 8, kMemory).error().message, "not mapped in the guest");
  EXPECT_EQ(check_guest_access(HL_STACK_GUARD + 8, 8, kMemory).error().message,
            "not mapped in the guest");
  EXPECT_EQ(check_guest_access(HL_STACK_GUARD - 4, 8, kMemory).error().message,
            "not mapped in the guest");
  EXPECT_EQ(check_guest_access(kMemory - 8, 16, kMemory).error().message, "outside guest memory");
  EXPECT_EQ(check_guest_access(~0ull - 4, 16, kMemory).error().message, "outside guest memory");
}

}  // namespace
}  // namespace hlrr::debug
