// Reverse debugging end to end: real gdb against `hlreplay trace.cap -g 0`, on recordings of
// the example guests made on the software vCPU. Every session asserts values.
#include <regex>
#include <sstream>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

// `hlreplay trace -g 0` waiting for a debugger.
class ReplayServer : public BackgroundServer {
 public:
  explicit ReplayServer(const std::string& trace)
      : BackgroundServer("timeout 120 " + tool_path("hlreplay") + " " + trace + " -g 0") {}
};

// Runs a gdb script (one command a line) against the replay.
std::string gdb_script(const std::string& guest, int port, const std::string& script) {
  char path[] = "/tmp/hlrr-gdb-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return "";
  FILE* f = fdopen(fd, "w");
  std::fputs(script.c_str(), f);
  std::fclose(f);
  const std::string out =
      shell("timeout 120 gdb -batch -nx -ex 'set confirm off' -ex 'target remote :" +
            std::to_string(port) + "' -x " + path + " " + guest_path(guest));
  std::remove(path);
  return out;
}

std::vector<std::string> tagged(const std::string& out, const std::string& tag) {
  std::vector<std::string> values;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(tag, 0) == 0) values.push_back(line.substr(tag.size()));
  }
  return values;
}

class ReplayGdb : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  }
  TempDir dir_;
};

// QEMU's reverse-debugging test: stepi N times recording each PC, reverse-stepi N times, the
// PCs come back in exactly the reverse order. From the start, and from deep in a sort.
TEST_F(ReplayGdb, ReverseStepiRetracesStepiExactly) {
  const std::string trace = dir_.path("compute.cap");
  ASSERT_TRUE(record_guest(
      "compute", {{"sort_hash", {vmm::Value{int64_t{2000}}, vmm::Value{int64_t{3}}}}}, trace));
  for (const char* start : {"0", "400000"}) {
    SCOPED_TRACE(start);
    ReplayServer server(trace);
    ASSERT_NE(server.port(), 0);
    const std::string out = gdb_script(
        "compute", server.port(),
        std::string("monitor seek-icount ") + start +
            "\n"
            // gdb caches registers; a monitor command moves the target behind its back.
            "maintenance flush register-cache\n"
            "set $i = 0\n"
            "while $i < 1000\n  printf \"F %lx\\n\", $pc\n  stepi\n  set $i = $i + 1\nend\n"
            "monitor when\n"
            "set $i = 0\n"
            "while $i < 1000\n  reverse-stepi\n  printf \"R %lx\\n\", $pc\n  set $i = $i + 1\nend\n"
            "monitor when\n");
    const auto forward = tagged(out, "F ");
    auto backward = tagged(out, "R ");
    ASSERT_EQ(forward.size(), 1000u) << out.substr(0, 2000);
    ASSERT_EQ(backward.size(), 1000u) << out.substr(0, 2000);
    std::reverse(backward.begin(), backward.end());
    EXPECT_EQ(forward, backward);
    const uint64_t s = std::stoull(start);
    EXPECT_CONTAINS(out, "instruction " + std::to_string(s + 1000) + ",");
    EXPECT_CONTAINS(out, "instruction " + std::to_string(s) + ",");
    // Not a straight line: the 1000 steps visit many distinct addresses.
    EXPECT_GT(std::set<std::string>(forward.begin(), forward.end()).size(), 20u);
  }
}

// The null page and the stack guard page are in host memory but not mapped for the guest: the
// replay answers gdb as the live target does (FaultIsASignalAtTheFaultingLine), not with zeros.
TEST_F(ReplayGdb, PagesTheGuestCannotAccessCannotBeReadInTheReplayEither) {
  const std::string trace = dir_.path("faults.cap");
  ASSERT_TRUE(record_guest("faults", {{"null_deref", {}}}, trace));
  // A gdb script stops at its first error: one session per refused read.
  ReplayServer at_fault(trace);
  ASSERT_NE(at_fault.port(), 0);
  const std::string out = gdb_script("faults", at_fault.port(), "continue\nprint *p\n");
  EXPECT_CONTAINS(out, "Cannot access memory at address 0x0");
  ReplayServer guard(trace);
  ASSERT_NE(guard.port(), 0);
  const std::string stack = gdb_script("faults", guard.port(), "x/2gx 0x31000\nx/2gx 0x30ff8\n");
  EXPECT_CONTAINS(stack, "0x31000:\t0x");  // the stack's first page is readable
  EXPECT_CONTAINS(stack, "Cannot access memory at address 0x30ff8");
}

// buggy.c's scenario: after 16 samples, add_sample(1000) overwrites count; watch it, run back.
TEST_F(ReplayGdb, WatchAndReverseContinueFindTheOffByOneStore) {
  const std::string trace = dir_.path("buggy.cap");
  std::vector<CallSpec> calls;
  for (int64_t v = 10; v <= 160; v += 10) calls.push_back({"add_sample", {vmm::Value{v}}});
  calls.push_back({"add_sample", {vmm::Value{int64_t{1000}}}});
  calls.push_back({"mean", {}});
  ASSERT_TRUE(record_guest("buggy", calls, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_script("buggy", server.port(),
                                     "break mean\n"
                                     "continue\n"
                                     "print g_stats.count\n"
                                     "watch g_stats.count\n"
                                     "reverse-continue\n"
                                     "info line *$pc\n"
                                     "print g_stats.count\n"
                                     "print v\n"
                                     "delete 2\n"
                                     "reverse-finish\n"
                                     "info line *$pc\n"
                                     "delete\n"
                                     "break add_sample\n"
                                     "reverse-continue\n"
                                     "print v\n"
                                     "monitor when\n");
  EXPECT_CONTAINS(out, "$1 = 1000\n");
  // Stopped on the BUG line, the store about to happen: count still 17.
  EXPECT_CONTAINS(out, "Hardware watchpoint 2: g_stats.count");
  EXPECT_CONTAINS(out, "Old value = 1000\nNew value = 17\n");
  EXPECT_CONTAINS(out, "g_stats.samples[slot] = v; /* BUG: off-by-one store */");
  EXPECT_CONTAINS(out, "$2 = 17\n");
  EXPECT_CONTAINS(out, "$3 = 1000\n");
  // reverse-finish: back in the caller, on the call's line.
  EXPECT_CONTAINS(out, "in hl_dispatch () at ");
  EXPECT_CONTAINS(out, "183\t  const hl_value result = f->fn(args, f->argc);");
  // reverse-continue from before the 17th call to the previous breakpoint hit: the 16th call's
  // entry (the initialisation's halt is exit 0, the calls' halts exits 1..15 before it).
  EXPECT_CONTAINS(out, "Breakpoint 3, add_sample");
  EXPECT_CONTAINS(out, "after exit 15, in call add_sample");
}

TEST_F(ReplayGdb, ReverseNextStepsBackOverAHostCallAndTheStartIsTheReplaylogStop) {
  const std::string trace = dir_.path("hello.cap");
  ASSERT_TRUE(record_guest("hello", {{"greet", {vmm::Value{std::string("world")}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_script("hello", server.port(),
                                     "reverse-stepi\n"
                                     "monitor when\n"
                                     "break hello.c:29\n"
                                     "continue\n"
                                     "print len\n"
                                     "reverse-next\n"
                                     "info line *$pc\n"
                                     "reverse-step\n"
                                     "info line *$pc\n"
                                     "set var $rax = 3\n"
                                     "continue\n"
                                     "continue\n");
  EXPECT_CONTAINS(out, "No more reverse-execution history.");
  EXPECT_CONTAINS(out, "instruction 0, before exit 0, in call (initialisation)");
  EXPECT_CONTAINS(out, "$1 = 14\n");
  // reverse-next from line 29 goes back over hl_print(line) (an `out` to the host) to line 28.
  EXPECT_CONTAINS(out, "Line 28 of \"");
  // reverse-step from line 28 goes back into the call on line 27, at its last line.
  EXPECT_CONTAINS(out, "hl_snprintf (buf=");
  EXPECT_CONTAINS(out, "format.c\" starts at address");
  // Writes are refused; forward to the end of the recording gives the replaylog stop.
  EXPECT_CONTAINS(out, "No more reverse-execution history.\n");  // forward end, same message
  EXPECT_CONTAINS(out, "Could not write register \"rax\"");
}

TEST_F(ReplayGdb, MonitorWhenAndSeekMatchTheTracesExitList) {
  const std::string trace = dir_.path("chatty.cap");
  ASSERT_TRUE(record_guest("chatty", {{"chatter", {vmm::Value{int64_t{12}}}}}, trace));
  const std::string dump = shell(tool_path("hltrace") + " dump " + trace);
  std::map<int, std::string> icount;  // exit number -> recorded count
  std::regex exit_line("exit ([0-9]+) .* icount=([0-9]+)");
  std::istringstream in(dump);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, exit_line)) icount[std::stoi(m[1])] = m[2];
  }
  ASSERT_GE(icount.size(), 14u) << dump;
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_script("chatty", server.port(),
                                     "monitor seek 5\n"
                                     "monitor seek 1\n"
                                     "monitor exits\n"
                                     "monitor seek-icount " +
                                         icount[9] +
                                         "\n"
                                         "monitor seek 99\n"
                                         "monitor help\n");
  EXPECT_CONTAINS(out, "instruction " + icount[5] + ", after exit 5, in call chatter");
  EXPECT_CONTAINS(out, "instruction " + icount[1] + ", after exit 1, in call chatter");
  EXPECT_CONTAINS(out, "=> exit 1 port-out port=0x6c00 icount=" + icount[1]);
  EXPECT_CONTAINS(out, "   exit 0 halt icount=" + icount[0]);
  EXPECT_CONTAINS(out, "instruction " + icount[9] + ", after exit 9, in call chatter");
  EXPECT_CONTAINS(out, "no exit 99: the recording has " + std::to_string(icount.size()) + " exits");
  EXPECT_CONTAINS(out, "seek-icount");
}

}  // namespace
}  // namespace hlrr::testing
