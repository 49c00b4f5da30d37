// Debugger fidelity, end to end with real gdb: break- and watchpoints where the vCPU leaves the
// guest (port I/O, rdtsc), watched accesses that only overlap the watched bytes, watchpoints
// of any length, and x87 registers, live on both backends and in replay.
#include "hl_abi.h"
#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

// A scanned instruction of `guest` (its address and the next instruction's), the first of
// `kind` inside a function whose name is one of `functions`.
struct Site {
  uint64_t address = 0;
  uint64_t next = 0;
};

Site find_site(const std::string& guest, vmm::SiteKind kind,
               std::initializer_list<std::string_view> functions) {
  auto image = vmm::ElfImage::read_file(guest_path(guest));
  if (!image) return {};
  for (const vmm::InstructionSite& s : image->instruction_sites()) {
    const vmm::Symbol* sym = image->symbols().find_containing(s.address);
    if (s.kind != kind || sym == nullptr) continue;
    for (std::string_view f : functions) {
      if (sym->name == f) return {s.address, s.address + s.length};
    }
  }
  return {};
}

// `print/x $pc` output, numbered as gdb numbers its values.
std::string pc_is(int n, uint64_t pc) {
  return "$" + std::to_string(n) + " = " + hex_address(pc) + "\n";
}

uint64_t symbol(const std::string& guest, const std::string& name) {
  auto image = vmm::ElfImage::read_file(guest_path(guest));
  if (!image) return 0;
  return image->symbols().address_of(name).value_or(0);
}

// buggy.elf's g_stats.count (after its 16 samples).
uint64_t stats_count() {
  return symbol("buggy", "g_stats") + 16 * 8;
}

// 10.3 on `add_sample 5`: a 1-byte access watchpoint on count's second byte; the 8-byte reads
// of count (from count's first byte: line 32's test, then count++'s load) overlap it and must
// stop, and so must count++'s 8-byte store.
const std::vector<std::string> kOverlapCommands = {
    "break add_sample",
    "continue",
    "awatch *(char*)" + hex_address(stats_count() + 1),
    "continue",
    "print g_stats.count",
    "continue",
    "print g_stats.count",
    "continue",
    "print g_stats.count"};

void expect_overlap_stops(const std::string& out) {
  EXPECT_CONTAINS(out, "Hardware access (read/write) watchpoint 2: *(char*)" +
                           hex_address(stats_count() + 1) + "\n\nValue = 0 '\\000'\n");
  EXPECT_CONTAINS(out, "buggy.c:32\n");  // the test's read
  EXPECT_CONTAINS(out, "$1 = 0\n");
  EXPECT_CONTAINS(out, "buggy.c:33\n");  // count++'s read, before the increment
  EXPECT_CONTAINS(out, "$2 = 0\n");
  EXPECT_CONTAINS(out, "$3 = 1\n");  // then count++'s write
}

// 11.1 on `add_sample 5`: a 136-byte watchpoint, five watchpoints, odd lengths; length 0 and
// ranges outside guest memory are refused at insertion, and the server keeps serving.
std::vector<std::string> any_length_commands() {
  const std::string count = hex_address(stats_count()).substr(2);
  return {"maint packet Z2," + count + ",0",
          "maint packet Z2,7fffffff000,8",
          "maint packet Z2," + count + ",9",
          "maint packet z2," + count + ",9",
          "break add_sample",
          "continue",
          "watch g_stats",
          "continue",
          "delete 2",
          "watch g_stats.samples[0]",
          "watch g_stats.samples[1]",
          "watch g_stats.samples[2]",
          "watch g_stats.samples[3]",
          "watch g_stats.samples[4]",
          "continue",
          "print g_stats.samples[0]"};
}

void expect_any_length_works(const std::string& out) {
  const std::string count = hex_address(stats_count()).substr(2);
  EXPECT_CONTAINS(out, "sending: Z2," + count + ",0\nreceived: \"E");
  EXPECT_CONTAINS(out, "sending: Z2,7fffffff000,8\nreceived: \"E");
  EXPECT_CONTAINS(out, "sending: Z2," + count + ",9\nreceived: \"OK\"");
  EXPECT_CONTAINS(out,
                  "Hardware watchpoint 2: g_stats\n\nOld value = {samples = {0 <repeats 16 "
                  "times>}, count = 0}\nNew value = {samples = {0 <repeats 16 times>}, "
                  "count = 1}\n");
  EXPECT_CONTAINS(out,
                  "Hardware watchpoint 3: g_stats.samples[0]\n\nOld value = 0\nNew value = 5\n");
  EXPECT_CONTAINS(out, "$1 = 5\n");
}

// 10.4 on `add_sample 5`: stepping over the store to count reports the watchpoint (gdb then
// prints old and new values and ends the `stepi 40` there).
const std::vector<std::string> kStepOverWatchedStore = {
    "break add_sample", "continue", "watch g_stats.count", "stepi 40", "print g_stats.count"};

void expect_step_reports_watch(const std::string& out) {
  EXPECT_CONTAINS(out, "Hardware watchpoint 2: g_stats.count\n\nOld value = 0\nNew value = 1\n");
  EXPECT_CONTAINS(out, "$1 = 1\n");
}

class LiveFidelity : public GdbBackendTest {};

class ReplayFidelity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  }
  TempDir dir_;
};

// 10.2: the host call's `out` and the instruction after it both stop, on continue and stepi.
TEST_P(LiveFidelity, BreakpointsOnAndAfterAHostCallsOutStop) {
  const Site out = find_site("hello", vmm::SiteKind::kOut, {"hl_call_host"});
  ASSERT_NE(out.address, 0u);
  for (const bool step : {false, true}) {
    SCOPED_TRACE(step ? "stepi" : "continue");
    DebuggedHlrun hlrun(backend(), "hello", "greet world");
    ASSERT_NE(hlrun.port(), 0);
    const std::string out_text =
        gdb_session("hello", hlrun.port(),
                    {"break *" + hex_address(out.address), "break *" + hex_address(out.next),
                     "continue", "print/x $pc", step ? "stepi" : "continue", "print/x $pc",
                     "info registers rip", "delete", "continue"});
    EXPECT_CONTAINS(out_text, "Breakpoint 1, ");
    EXPECT_CONTAINS(out_text, pc_is(1, out.address));
    EXPECT_CONTAINS(out_text, pc_is(2, out.next));
    EXPECT_CONTAINS(out_text, "Breakpoint 2, ");
    EXPECT_CONTAINS(out_text, "exited normally");
    const std::string rest = hlrun.finish();
    EXPECT_CONTAINS(rest, "Hello, world!\n");
    EXPECT_CONTAINS(rest, "result: 14\n");
  }
}

// 10.2: the same for rdtsc, which the software vCPU performs itself.
TEST_P(LiveFidelity, BreakpointsOnAndAfterRdtscStop) {
  const Site tsc = find_site("clock", vmm::SiteKind::kRdtsc, {"stamp", "read_tsc"});
  ASSERT_NE(tsc.address, 0u);
  DebuggedHlrun hlrun(backend(), "clock", "stamp");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out =
      gdb_session("clock", hlrun.port(),
                  {"break *" + hex_address(tsc.address), "break *" + hex_address(tsc.next),
                   "continue", "print/x $pc", "continue", "print/x $pc", "delete", "continue"});
  EXPECT_CONTAINS(out, pc_is(1, tsc.address));
  EXPECT_CONTAINS(out, "Breakpoint 2, ");
  EXPECT_CONTAINS(out, pc_is(2, tsc.next));
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), "result: ");
}

// 10.3: an access that starts below the watched byte and overlaps it stops.
TEST_P(LiveFidelity, WatchpointSeesAnAccessThatOverlapsItFromBelow) {
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 5");
  ASSERT_NE(hlrun.port(), 0);
  expect_overlap_stops(gdb_session("buggy", hlrun.port(), kOverlapCommands));
  EXPECT_CONTAINS(hlrun.finish(), "result: 1\n");
}

// 11.1: watchpoints of any length and number on the software vCPU (KVM runs the guest on one
// while a watchpoint is set); bad ones refused at insertion.
TEST_P(LiveFidelity, WatchpointsOfAnyLengthAndNumber) {
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 5");
  ASSERT_NE(hlrun.port(), 0);
  expect_any_length_works(gdb_session("buggy", hlrun.port(), any_length_commands()));
}

// 10.4, live (the reference): a step that writes a watched byte reports the watchpoint.
TEST_P(LiveFidelity, StepOverAWatchedStoreReportsTheWatchpoint) {
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 5");
  ASSERT_NE(hlrun.port(), 0);
  expect_step_reports_watch(gdb_session("buggy", hlrun.port(), kStepOverWatchedStore));
}

// Every call starts with the VMM setting RIP to hl_dispatch_entry: arriving there by a register
// write is not a stop there, so a breakpoint on it stops (it used to be stepped over).
TEST_P(LiveFidelity, ABreakpointWhereACallStartsStops) {
  const uint64_t entry = symbol("hello", "hl_dispatch_entry");
  ASSERT_NE(entry, 0u);
  DebuggedHlrun hlrun(backend(), "hello", "greet world");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = gdb_session(
      "hello", hlrun.port(),
      {"break *" + hex_address(entry), "continue", "print/x $pc", "print/x $rsp", "continue"});
  EXPECT_CONTAINS(out, "Breakpoint 1, ");
  EXPECT_CONTAINS(out, pc_is(1, entry));
  EXPECT_CONTAINS(out, "$2 = " + hex_address(HL_STACK_TOP) + "\n");
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), "result: 14\n");
}

HLRR_INSTANTIATE_FOR_BACKENDS(LiveFidelity);

// 10.2 in replay: forward onto the `out` and the instruction after it, then reverse-continue
// back onto both.
TEST_F(ReplayFidelity, BreakpointsOnAndAfterAnExitStopForwardAndReverse) {
  struct Case {
    const char* guest;
    CallSpec call;
    Site site;
  };
  const Case cases[] = {
      {"hello",
       {"greet", {vmm::Value{std::string("world")}}},
       find_site("hello", vmm::SiteKind::kOut, {"hl_call_host"})},
      {"clock", {"stamp", {}}, find_site("clock", vmm::SiteKind::kRdtsc, {"stamp", "read_tsc"})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.guest);
    ASSERT_NE(c.site.address, 0u);
    const std::string trace = dir_.path(std::string(c.guest) + ".cap");
    ASSERT_TRUE(record_guest(c.guest, {c.call}, trace));
    ReplayServer server(trace);
    ASSERT_NE(server.port(), 0);
    const std::string out =
        gdb_session(c.guest, server.port(),
                    {"break *" + hex_address(c.site.address), "break *" + hex_address(c.site.next),
                     "continue", "print/x $pc", "continue", "print/x $pc", "continue",
                     "reverse-continue", "print/x $pc", "reverse-continue", "print/x $pc"});
    EXPECT_CONTAINS(out, pc_is(1, c.site.address));
    EXPECT_CONTAINS(out, pc_is(2, c.site.next));
    EXPECT_CONTAINS(out, "No more reverse-execution history.");
    EXPECT_CONTAINS(out, pc_is(3, c.site.next));
    EXPECT_CONTAINS(out, pc_is(4, c.site.address));
  }
}

// The same in replay, forward from the start and back from the end.
TEST_F(ReplayFidelity, ABreakpointWhereACallStartsStopsForwardAndReverse) {
  const uint64_t entry = symbol("hello", "hl_dispatch_entry");
  ASSERT_NE(entry, 0u);
  const std::string trace = dir_.path("hello.cap");
  ASSERT_TRUE(record_guest("hello", {{"greet", {vmm::Value{std::string("world")}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("hello", server.port(),
                  {"break *" + hex_address(entry), "continue", "print/x $pc", "continue",
                   "reverse-continue", "print/x $pc", "monitor when"});
  EXPECT_CONTAINS(out, pc_is(1, entry));
  EXPECT_CONTAINS(out, "No more reverse-execution history.");
  EXPECT_CONTAINS(out, pc_is(2, entry));
  EXPECT_CONTAINS(out, "in call 1 (greet)");
}

TEST_F(ReplayFidelity, WatchpointSeesAnAccessThatOverlapsItFromBelow) {
  const std::string trace = dir_.path("buggy.cap");
  ASSERT_TRUE(record_guest("buggy", {{"add_sample", {vmm::Value{int64_t{5}}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  expect_overlap_stops(gdb_session("buggy", server.port(), kOverlapCommands));
}

// 11.1: `hlreplay -g` aborted on a watchpoint its vCPU refused when the timeline armed it.
TEST_F(ReplayFidelity, WatchpointsOfAnyLengthAndNumber) {
  const std::string trace = dir_.path("buggy.cap");
  ASSERT_TRUE(record_guest("buggy", {{"add_sample", {vmm::Value{int64_t{5}}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  std::vector<std::string> commands = any_length_commands();
  commands.push_back("monitor when");
  const std::string out = gdb_session("buggy", server.port(), commands);
  expect_any_length_works(out);
  EXPECT_CONTAINS(out, "in call 1 (add_sample)");
  EXPECT_EQ(server.finish().find("internal error"), std::string::npos);
}

// 10.4: replay's forward stepi over a watched store carried no `watch:` in its stop reply.
TEST_F(ReplayFidelity, StepOverAWatchedStoreReportsTheWatchpoint) {
  const std::string trace = dir_.path("buggy.cap");
  ASSERT_TRUE(record_guest("buggy", {{"add_sample", {vmm::Value{int64_t{5}}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  expect_step_reports_watch(gdb_session("buggy", server.port(), kStepOverWatchedStore));
}

// 10.4 with lldb, which reported "instruction step into" for that step.
TEST_F(ReplayFidelity, LldbStepOverAWatchedStoreReportsTheWatchpoint) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  const std::string trace = dir_.path("buggy.cap");
  ASSERT_TRUE(record_guest("buggy", {{"add_sample", {vmm::Value{int64_t{5}}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  std::vector<std::string> commands = {"breakpoint set -n add_sample", "continue",
                                       "watchpoint set variable g_stats.count"};
  for (int i = 0; i < 30; ++i) commands.push_back("thread step-inst");
  const std::string out = lldb_session("lldb", "buggy", server.port(), commands);
  EXPECT_CONTAINS(out, "Watchpoint 1 hit:\nold value: 0\nnew value: 1\n");
  EXPECT_CONTAINS(out, "stop reason = watchpoint 1");
}

}  // namespace
}  // namespace hlrr::testing
