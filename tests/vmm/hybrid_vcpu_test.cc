// The hybrid vCPU without KVM: a "hardware" vCPU that, like KVM, refuses watchpoints (a software
// vCPU in disguise) and the software fallback. The guest moves to the fallback while a
// watchpoint is set and back when it is gone, its registers with it; exits completed while on
// the fallback (rdtsc's result) land in the registers callers see.
#include "vmm/hybrid_vcpu.h"

#include <gtest/gtest.h>

#include "hl_abi.h"
#include "vmm/code_scan.h"
#include "vmm/guest_memory.h"
#include "vmm/long_mode.h"
#include "vmm/unicorn_vcpu.h"

namespace hlrr::vmm {
namespace {

constexpr uint64_t kCode = HL_IMAGE_BASE;
constexpr uint64_t kData = 0x200000;

// A vCPU that honours breakpoints only, as KVM's debug registers do.
class BreakpointsOnly final : public Vcpu {
 public:
  explicit BreakpointsOnly(std::unique_ptr<Vcpu> inner) : inner_(std::move(inner)) {}
  std::string_view backend_name() const override { return "hardware"; }
  VcpuExit run(const RunOptions& options) override {
    ++runs;
    if (const StopCause cause = stop_.take(); cause != StopCause::kNone)
      return VcpuExit{.kind = ExitKind::kStopped, .stop_cause = cause};
    inner_->begin_stop_generation();
    return inner_->run(options);
  }
  base::Expected<RegisterFile> registers() override { return inner_->registers(); }
  base::Status set_registers(const RegisterFile& regs) override {
    return inner_->set_registers(regs);
  }
  void set_io_in_result(uint32_t value) override { inner_->set_io_in_result(value); }
  void set_nondet_result(uint64_t value, uint64_t extra) override {
    inner_->set_nondet_result(value, extra);
  }
  void kick() override { inner_->request_stop(stop_.pending(), inner_->stop_generation()); }
  base::Status set_dirty_tracking(bool enabled) override {
    return inner_->set_dirty_tracking(enabled);
  }
  void code_modified(uint64_t gpa, uint64_t len) override { inner_->code_modified(gpa, len); }
  bool supports_debug_points(std::span<const DebugPoint> points) const override {
    for (const DebugPoint& p : points) {
      if (p.kind != DebugPointKind::kBreakpoint) return false;
    }
    return true;
  }
  base::Status set_debug_points(std::span<const DebugPoint> points) override {
    EXPECT_TRUE(supports_debug_points(points));
    return inner_->set_debug_points(points);
  }
  int runs = 0;

 private:
  std::unique_ptr<Vcpu> inner_;
};

class HybridVcpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const uint8_t code[] = {
        0x48, 0xC7, 0xC0, 0x78, 0x56, 0x34, 0x12,        // +0  mov rax, 0x12345678
        0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,  // +7  mov [0x200000], rax
        0x0F, 0x31,                                      // +15 rdtsc
        0xF4,                                            // +17 hlt
    };
    auto memory = GuestMemory::create(4 << 20);
    ASSERT_TRUE(memory);
    memory_ = std::make_unique<GuestMemory>(std::move(*memory));
    ASSERT_TRUE(write_page_tables(*memory_));
    ASSERT_TRUE(write_descriptor_tables(*memory_));
    ASSERT_TRUE(memory_->write(kCode, code));
    const CodeRange range{kCode, code};
    sites_ = scan_code(std::span(&range, 1));
    auto inner = UnicornVcpu::create(*memory_, sites_);
    ASSERT_TRUE(inner);
    auto hardware = std::make_unique<BreakpointsOnly>(std::move(*inner));
    hardware_ = hardware.get();
    hybrid_ = std::make_unique<HybridVcpu>(
        std::move(hardware),
        [this]() -> base::Expected<std::unique_ptr<Vcpu>> {
          ++software_created_;
          auto vcpu = UnicornVcpu::create(*memory_, sites_);
          if (!vcpu) return base::Unexpected(std::move(vcpu).error());
          return std::unique_ptr<Vcpu>(std::move(*vcpu));
        },
        memory_->size());
    ASSERT_TRUE(hybrid_->set_registers(initial_registers(kCode)));
  }

  std::unique_ptr<GuestMemory> memory_;
  std::vector<InstructionSite> sites_;
  BreakpointsOnly* hardware_ = nullptr;
  std::unique_ptr<HybridVcpu> hybrid_;
  int software_created_ = 0;
};

TEST_F(HybridVcpuTest, RunsOnTheFallbackWhileAWatchpointIsSetAndComesBack) {
  const DebugPoint watch{DebugPointKind::kWriteWatch, kData, 8};
  ASSERT_TRUE(hybrid_->set_debug_points(std::span(&watch, 1)));
  EXPECT_TRUE(hybrid_->on_software());
  EXPECT_EQ(software_created_, 1);
  EXPECT_EQ(hybrid_->backend_name(), "hardware");

  VcpuExit exit = hybrid_->run({});
  ASSERT_EQ(exit.kind, ExitKind::kDebug) << to_string(exit.kind) << " " << exit.detail;
  EXPECT_TRUE(exit.has_debug_point);
  EXPECT_EQ(exit.debug_point, DebugPointKind::kWriteWatch);
  EXPECT_EQ(exit.address, kData);
  EXPECT_EQ(hybrid_->registers()->rip, kCode + 15);  // after the store, as the fallback left it
  EXPECT_EQ(hybrid_->registers()->rax, 0x12345678u);
  EXPECT_EQ(*memory_->read_value<uint64_t>(kData), 0x12345678u);
  EXPECT_EQ(hardware_->runs, 0);

  // rdtsc stops the fallback; its result lands in the registers callers see.
  exit = hybrid_->run({});
  ASSERT_EQ(exit.kind, ExitKind::kNondet) << to_string(exit.kind) << " " << exit.detail;
  hybrid_->set_nondet_result(0x1111222233334444, 0);
  RegisterFile r = *hybrid_->registers();
  EXPECT_EQ(r.rax, 0x33334444u);
  EXPECT_EQ(r.rdx, 0x11112222u);
  EXPECT_EQ(r.rip, kCode + 17);

  ASSERT_TRUE(hybrid_->set_debug_points({}));
  EXPECT_FALSE(hybrid_->on_software());
  exit = hybrid_->run({});
  EXPECT_EQ(exit.kind, ExitKind::kHalt) << to_string(exit.kind) << " " << exit.detail;
  EXPECT_EQ(hardware_->runs, 1);
  EXPECT_EQ(hybrid_->registers()->rip, kCode + 18);
  EXPECT_EQ(hybrid_->registers()->rax, 0x33334444u);
}

TEST_F(HybridVcpuTest, BreakpointsTheHardwareHonoursStayOnTheHardware) {
  const DebugPoint at_hlt{DebugPointKind::kBreakpoint, kCode + 17, 1};
  ASSERT_TRUE(hybrid_->set_debug_points(std::span(&at_hlt, 1)));
  EXPECT_FALSE(hybrid_->on_software());
  EXPECT_EQ(software_created_, 0);
  hybrid_->set_nondet_result(0, 0);  // nothing pending: no effect
  VcpuExit exit = hybrid_->run({});
  ASSERT_EQ(exit.kind, ExitKind::kNondet);
  hybrid_->set_nondet_result(5, 0);
  exit = hybrid_->run({});
  ASSERT_EQ(exit.kind, ExitKind::kDebug) << to_string(exit.kind) << " " << exit.detail;
  EXPECT_EQ(exit.address, kCode + 17);
  EXPECT_EQ(hybrid_->registers()->rax, 5u);
  EXPECT_EQ(hardware_->runs, 2);
}

TEST_F(HybridVcpuTest, AStopRequestedBeforeAFallbackRunStopsIt) {
  const DebugPoint watch{DebugPointKind::kReadWatch, kData, 1};
  ASSERT_TRUE(hybrid_->set_debug_points(std::span(&watch, 1)));
  hybrid_->request_stop();
  EXPECT_EQ(hybrid_->run({}).kind, ExitKind::kStopped);
  EXPECT_EQ(hybrid_->registers()->rip, kCode);
  EXPECT_EQ(hybrid_->run({}).kind, ExitKind::kNondet);  // the stop was taken once
}

TEST_F(HybridVcpuTest, PointsOutsideGuestMemoryAreRefusedAndTheSetKept) {
  const DebugPoint watch{DebugPointKind::kWriteWatch, kData, 8};
  ASSERT_TRUE(hybrid_->set_debug_points(std::span(&watch, 1)));
  const DebugPoint outside{DebugPointKind::kWriteWatch, 8 << 20, 4};
  auto st = hybrid_->set_debug_points(std::span(&outside, 1));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("outside guest memory"), std::string::npos);
  EXPECT_TRUE(hybrid_->on_software());
  EXPECT_EQ(hybrid_->run({}).kind, ExitKind::kDebug);  // the watchpoint still stands
}

}  // namespace
}  // namespace hlrr::vmm
