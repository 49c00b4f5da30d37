// Vcpu::set_debug_points() through a Sandbox, on both backends: breakpoints stop before the
// instruction and are stepped over on resume, watchpoints stop after the access with its
// address, more breakpoints than KVM has debug registers still work, memory never changes.
#include <cstring>

#include "tests/integration/guests.h"

namespace hlrr::testing {
namespace {

using vmm::DebugPoint;
using vmm::DebugPointKind;
using vmm::ExitKind;
using vmm::RunOutcome;
using vmm::Value;

class DebugPoints : public BackendTest {
 protected:
  uint64_t sym(vmm::Sandbox& s, const char* name) {
    auto a = s.image().symbols().address_of(name);
    EXPECT_TRUE(a.has_value()) << name;
    return a.value_or(0);
  }
  uint64_t rip(vmm::Sandbox& s) { return s.vcpu().registers()->rip; }
};

TEST_P(DebugPoints, BreakpointsStopBeforeAndResumePastThem) {
  std::string out;
  auto s = make_sandbox("hello", &out, config());
  ASSERT_TRUE(s);
  // Six breakpoints: more than KVM's four debug registers (it then runs on the software vCPU).
  const char* names[] = {"greet",       "hl_alloc_mark", "hl_alloc",
                         "hl_snprintf", "hl_print",      "hl_alloc_release"};
  std::vector<DebugPoint> points;
  for (const char* n : names) points.push_back({DebugPointKind::kBreakpoint, sym(*s, n), 1});
  std::vector<uint8_t> code_before(64), code_after(64);
  ASSERT_TRUE(s->memory().read(sym(*s, "greet"), code_before));
  for (size_t count : {size_t{1}, points.size()}) {
    ASSERT_TRUE(s->vcpu().set_debug_points(std::span(points).first(count)));
    ASSERT_TRUE(s->memory().read(sym(*s, "greet"), code_after));
    EXPECT_EQ(code_before, code_after) << "breakpoints must not show in guest memory";
    const std::vector<Value> args = {std::string("world")};
    ASSERT_TRUE(s->begin_call("greet", args));
    std::vector<uint64_t> stops;
    RunOutcome o;
    while ((o = s->resume()).kind == RunOutcome::Kind::kPaused) {
      ASSERT_EQ(o.exit.kind, ExitKind::kDebug);
      ASSERT_TRUE(o.exit.has_debug_point);
      EXPECT_EQ(o.exit.debug_point, DebugPointKind::kBreakpoint);
      EXPECT_EQ(o.exit.address, rip(*s));
      stops.push_back(rip(*s));
      ASSERT_LT(stops.size(), 20u);
    }
    ASSERT_EQ(o.kind, RunOutcome::Kind::kReturned);
    EXPECT_EQ(std::get<int64_t>(o.value), 14);
    if (count == 1) {
      EXPECT_EQ(stops, std::vector<uint64_t>{sym(*s, "greet")});
    } else {
      // In the order greet calls them (hl_print's stop comes before its host call).
      std::vector<uint64_t> expected;
      for (const char* n : names) expected.push_back(sym(*s, n));
      EXPECT_EQ(stops, expected);
    }
  }
  EXPECT_EQ(out, "Hello, world!\nHello, world!\n");
}

TEST_P(DebugPoints, WatchpointsStopAfterTheAccess) {
  std::string out;
  auto s = make_sandbox("buggy", &out, config());
  ASSERT_TRUE(s);
  const uint64_t count = sym(*s, "g_stats") + 16 * 8;
  ASSERT_TRUE(s->memory().write_value<int64_t>(count, 16));
  const DebugPoint watch{DebugPointKind::kWriteWatch, count, 8};
  ASSERT_TRUE(s->vcpu().set_debug_points(std::span(&watch, 1)));
  const std::vector<Value> args = {int64_t{1000}};
  ASSERT_TRUE(s->begin_call("add_sample", args));
  for (int64_t expected : {17, 1000}) {
    RunOutcome o = s->resume();
    ASSERT_EQ(o.kind, RunOutcome::Kind::kPaused);
    ASSERT_TRUE(o.exit.has_debug_point);
    EXPECT_EQ(o.exit.debug_point, DebugPointKind::kWriteWatch);
    EXPECT_EQ(o.exit.address, count);
    EXPECT_EQ(*s->memory().read_value<int64_t>(count), expected);  // the store is done
    EXPECT_EQ(s->image().symbols().describe(rip(*s)).rfind("add_sample+", 0), 0u);
  }
  RunOutcome o = s->resume();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kReturned);
  EXPECT_EQ(std::get<int64_t>(o.value), 17);

  // A read watchpoint: sample_count reads count once; awatch sees the same read.
  for (DebugPointKind kind : {DebugPointKind::kReadWatch, DebugPointKind::kAccessWatch}) {
    const DebugPoint read{kind, count, 8};
    ASSERT_TRUE(s->vcpu().set_debug_points(std::span(&read, 1)));
    ASSERT_TRUE(s->begin_call("sample_count"));
    o = s->resume();
    ASSERT_EQ(o.kind, RunOutcome::Kind::kPaused);
    EXPECT_EQ(o.exit.debug_point, kind);
    EXPECT_EQ(s->image().symbols().describe(rip(*s)).rfind("sample_count+", 0), 0u);
    o = s->resume();
    ASSERT_EQ(o.kind, RunOutcome::Kind::kReturned);
    EXPECT_EQ(std::get<int64_t>(o.value), 1000);
  }
  // Without debug points (KVM back on hardware), calls run through.
  ASSERT_TRUE(s->vcpu().set_debug_points({}));
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sample_count")), 1000);
  // Any number and length of watchpoints (the software vCPU has no debug-register limit);
  // an empty one, or one outside guest memory, is refused.
  const DebugPoint five[] = {{DebugPointKind::kWriteWatch, count, 8},
                             {DebugPointKind::kWriteWatch, count, 8},
                             {DebugPointKind::kWriteWatch, count, 8},
                             {DebugPointKind::kWriteWatch, count - 128, 136},
                             {DebugPointKind::kReadWatch, count, 9}};
  EXPECT_TRUE(s->vcpu().set_debug_points(five));
  const DebugPoint empty{DebugPointKind::kWriteWatch, count, 0};
  EXPECT_FALSE(s->vcpu().set_debug_points(std::span(&empty, 1)));
  const DebugPoint outside{DebugPointKind::kWriteWatch, s->memory().size() - 4, 8};
  EXPECT_FALSE(s->vcpu().set_debug_points(std::span(&outside, 1)));
  ASSERT_TRUE(s->vcpu().set_debug_points({}));
}

HLRR_INSTANTIATE_FOR_BACKENDS(DebugPoints);

}  // namespace
}  // namespace hlrr::testing
