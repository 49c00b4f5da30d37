// The lower-level Sandbox API that debuggers and the recorder use: load/begin_call/resume, and
// the ExitObserver seam.
#include <gtest/gtest.h>

#include <algorithm>

#include "hl_abi.h"
#include "tests/integration/guests.h"
#include "vmm/guest_messages.h"

namespace hlrr::testing {
namespace {

using vmm::ExitKind;
using vmm::RunOutcome;
using vmm::Value;

struct Event {
  std::string what;
  vmm::VcpuExit exit;
  uint64_t rip = 0;
  std::vector<vmm::HostWrite> writes;
};

class RecordingObserver : public vmm::ExitObserver {
 public:
  void on_call_start(std::string_view function, std::span<const Value> args,
                     const vmm::RegisterFile& regs,
                     std::span<const vmm::HostWrite> writes) override {
    events.push_back({"start " + std::string(function) + "/" + std::to_string(args.size()),
                      {},
                      regs.rip,
                      {writes.begin(), writes.end()}});
  }
  void on_exit(const vmm::VcpuExit& exit, const vmm::RegisterFile& regs,
               std::span<const vmm::HostWrite> writes) override {
    events.push_back({"exit", exit, regs.rip, {writes.begin(), writes.end()}});
  }
  void on_call_end(const base::Expected<Value, vmm::Fault>& result) override {
    events.push_back(
        {result ? "end " + vmm::to_string(*result) : "fault " + result.error().to_string(),
         {},
         0,
         {}});
  }
  std::vector<Event> events;
};

TEST(SandboxApi, LoadStopsAtTheEntryAndTheInitialisationIsTheFirstCall) {
  auto image = vmm::ElfImage::read_file(guest_path("hello"));
  ASSERT_TRUE(image.has_value());
  vmm::SandboxConfig config;
  config.output = [](std::string_view) {};
  auto s = vmm::Sandbox::load(*image, config);
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_FALSE((*s)->initialized());
  EXPECT_TRUE((*s)->call_in_progress());
  EXPECT_EQ((*s)->vcpu().registers()->rip, image->entry());
  EXPECT_FALSE((*s)->initialized());
  RunOutcome boot = (*s)->resume();
  ASSERT_EQ(boot.kind, RunOutcome::Kind::kReturned);
  EXPECT_TRUE((*s)->initialized());
  EXPECT_EQ(std::get<int64_t>(boot.value), static_cast<int64_t>((*s)->dispatch_address()));
  EXPECT_EQ((*s)->dispatch_address(), *image->symbols().address_of("hl_dispatch_entry"));
}

// A limit so long that now + limit overflows the clock once made a deadline in the past: the
// call timed out as soon as the watchdog thread ran (a call of ~100 ms always loses that race).
TEST(SandboxApi, AnEnormousTimeoutIsNoLimitNotAnInstantTimeout) {
  auto image = vmm::ElfImage::read_file(guest_path("compute"));
  ASSERT_TRUE(image.has_value());
  for (const auto limit :
       {std::chrono::milliseconds(10'000'000'000'000), std::chrono::milliseconds::max()}) {
    vmm::SandboxConfig config;
    config.vcpu = vmm::VcpuKind::kUnicorn;
    config.timeout = limit;
    auto s = vmm::Sandbox::create(*image, config);
    ASSERT_TRUE(s.has_value()) << limit.count() << ": " << s.error().message;
    const std::vector<Value> args{Value{int64_t{20000}}, Value{int64_t{1}}};
    auto result = (*s)->call("sort_hash", args);
    ASSERT_TRUE(result.has_value()) << limit.count() << ": " << result.error().to_string();
    EXPECT_EQ(std::get<int64_t>(*result), -4307917313543480996);
  }
}

TEST(SandboxApi, SingleStepsACallToItsResult) {
  std::string out;
  auto s = make_sandbox("compute", &out);
  ASSERT_TRUE(s);
  const std::vector<Value> args = {int64_t{10}};
  ASSERT_TRUE(s->begin_call("fib", args).has_value());
  EXPECT_EQ(s->vcpu().registers()->rip, s->dispatch_address());
  uint64_t steps = 0, last_rip = s->dispatch_address();
  for (;;) {
    RunOutcome o = s->resume({.single_step = true});
    if (o.kind != RunOutcome::Kind::kPaused) {
      ASSERT_EQ(o.kind, RunOutcome::Kind::kReturned);
      EXPECT_EQ(std::get<int64_t>(o.value), 55);
      break;
    }
    ASSERT_EQ(o.exit.kind, ExitKind::kDebug);
    const uint64_t rip = s->vcpu().registers()->rip;
    EXPECT_NE(rip, last_rip) << "step " << steps;
    last_rip = rip;
    ASSERT_LT(++steps, 100000u);
  }
  EXPECT_GT(steps, 100u);  // dispatcher + fib's loop
  EXPECT_FALSE(s->call_in_progress());
}

TEST(SandboxApi, ObserverSeesCallsExitsRegistersAndHostWrites) {
  std::string out;
  vmm::SandboxConfig config;
  int64_t t = 0;
  config.host_functions.add(
      "clock_ns", {{}, vmm::ValueType::kI64},
      [&](std::span<const Value>) -> base::Expected<Value> { return t += 7; });
  auto s = make_sandbox("chatty", &out, std::move(config));
  ASSERT_TRUE(s);
  RecordingObserver observer;
  s->set_exit_observer(&observer);
  const std::vector<Value> args = {int64_t{3}};
  ASSERT_EQ(std::get<int64_t>(*s->call("chatter", args)), 4);
  // start, 3 clock_ns + 1 print host calls, the halt, end.
  ASSERT_EQ(observer.events.size(), 7u);
  const Event& start = observer.events[0];
  EXPECT_EQ(start.what, "start chatter/1");
  EXPECT_EQ(start.rip, s->dispatch_address());
  ASSERT_FALSE(start.writes.empty());
  EXPECT_EQ(start.writes.front().address, HL_CALL_AREA);  // the call message
  for (int i = 1; i <= 4; ++i) {
    const Event& e = observer.events[i];
    EXPECT_EQ(e.exit.kind, ExitKind::kIoOut);
    EXPECT_EQ(e.exit.port, HL_PORT_HOST_CALL);
    EXPECT_EQ(s->image().symbols().find_containing(e.rip - 1)->name, "hl_call_host");
    ASSERT_EQ(e.writes.size(), 1u) << i;  // the reply message
    EXPECT_EQ(e.writes[0].address, HL_REPLY_AREA);
  }
  // The first reply carries clock_ns's 7.
  auto memory = vmm::GuestMemory::create(0x200000);
  ASSERT_TRUE(memory->write(HL_REPLY_AREA, observer.events[1].writes[0].bytes).has_value());
  auto reply = vmm::read_message(*memory, HL_REPLY_AREA);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(std::get<int64_t>(reply->args[0]), 7);
  EXPECT_EQ(observer.events[5].exit.kind, ExitKind::kHalt);
  EXPECT_TRUE(observer.events[5].writes.empty());
  EXPECT_EQ(observer.events[6].what, "end 4");
}

TEST(SandboxApi, ObserverSeesAFaultEndTheCall) {
  std::string out;
  auto s = make_sandbox("faults", &out);
  ASSERT_TRUE(s);
  RecordingObserver observer;
  s->set_exit_observer(&observer);
  EXPECT_FALSE(s->call("null_deref").has_value());
  ASSERT_EQ(observer.events.size(), 3u);
  EXPECT_EQ(observer.events[1].exit.kind, ExitKind::kException);
  EXPECT_EQ(observer.events[1].exit.vector, 14);
  EXPECT_EQ(observer.events[2].what.rfind("fault #PF at", 0), 0u) << observer.events[2].what;
}

}  // namespace
}  // namespace hlrr::testing

namespace hlrr::testing {
namespace {

class DirtyLog : public BackendTest {};
HLRR_INSTANTIATE_FOR_BACKENDS(DirtyLog);

TEST_P(DirtyLog, ReportsThePagesTheGuestWroteSinceTheLastTake) {
  std::string out;
  auto s = make_sandbox("buggy", &out, config());
  ASSERT_TRUE(s);
  std::vector<uint64_t> pages;
  auto cursor = s->track_dirty_pages();  // starts the log
  ASSERT_TRUE(cursor) << cursor.error().message;
  pages.clear();
  call_ok(*s, "add_sample", {int64_t{7}});
  ASSERT_TRUE(cursor->take(pages));
  const uint64_t stats_page = *s->image().symbols().address_of("g_stats") / HL_PAGE_SIZE;
  EXPECT_NE(std::find(pages.begin(), pages.end(), stats_page), pages.end())
      << "g_stats' page not reported";
  EXPECT_NE(std::find(pages.begin(), pages.end(), HL_CALL_AREA / HL_PAGE_SIZE),
            pages.end());  // host's writes
  pages.clear();
  ASSERT_TRUE(cursor->take(pages));
  EXPECT_TRUE(pages.empty());  // forgotten once taken
}

}  // namespace
}  // namespace hlrr::testing
