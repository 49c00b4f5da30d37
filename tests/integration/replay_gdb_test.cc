// Reverse debugging end to end: real gdb against `hlreplay trace.cap -g 0`, on recordings of
// the example guests made on the software vCPU. Every session asserts values.
#include <regex>
#include <sstream>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

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
  // A recording of compute's sort_hash(n, rounds), in this test's directory.
  std::string record_sort_hash(int64_t n, int64_t rounds) {
    const std::string trace = dir_.path("compute.cap");
    EXPECT_TRUE(
        record_guest("compute", {{"sort_hash", {vmm::Value{n}, vmm::Value{rounds}}}}, trace));
    return trace;
  }
  TempDir dir_;
};

// QEMU's reverse-debugging test: stepi N times recording each PC, reverse-stepi N times, the
// PCs come back in exactly the reverse order. From the start, and from deep in a sort.
TEST_F(ReplayGdb, ReverseStepiRetracesStepiExactly) {
  const std::string trace = record_sort_hash(2000, 3);
  ASSERT_FALSE(HasFailure());
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

// A recording that ended in a fault: going forward to its end shows the fault as the live run
// did (LiveGdb.FaultIsASignalAtTheFaultingLine), not only the end of the history; going on from
// there is the end, and arriving again (after a step back) shows the fault again.
TEST_F(ReplayGdb, ARecordedFaultIsASignalAtTheFaultingLineAsLive) {
  const std::string trace = dir_.path("faults.cap");
  ASSERT_TRUE(record_guest("faults", {{"null_deref", {}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_script("faults", server.port(),
                                     "continue\nset $f = $pc\ninfo line *$pc\ncontinue\n"
                                     "reverse-stepi\ncontinue\nprint $pc == $f\n");
  const std::string first = "Program received signal SIGSEGV, Segmentation fault.";
  const auto at = out.find(first);
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_NE(out.find(first, at + 1), std::string::npos) << out;  // arriving again
  EXPECT_CONTAINS(out, "null_deref (");
  EXPECT_CONTAINS(out, "Line 34 of \"");
  EXPECT_CONTAINS(out, "No more reverse-execution history.");
  EXPECT_CONTAINS(out, "$1 = 1");  // the same faulting instruction
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
  ASSERT_TRUE(record_guest("buggy", buggy_off_by_one_calls(), trace));
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
  EXPECT_CONTAINS(out, "after exit 15, in call 16 (add_sample)");
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
                                     "monitor when\n"
                                     "reverse-stepi\n"
                                     "monitor when\n"
                                     "delete\n"
                                     "continue\n");
  EXPECT_CONTAINS(out, "No more reverse-execution history.");
  EXPECT_CONTAINS(out, "instruction 0, before exit 0, in call 0 (initialisation)");
  EXPECT_CONTAINS(out, "$1 = 14\n");
  // reverse-next from line 29 goes back over hl_print(line) (an `out` to the host) to line 28.
  EXPECT_CONTAINS(out, "Line 28 of \"");
  // reverse-step from line 28 goes back into the call on line 27, at its last line.
  EXPECT_CONTAINS(out, "hl_snprintf (buf=");
  EXPECT_CONTAINS(out, "format.c\" starts at address");
  // A write starts a diversion; a reverse command ends it, from the recorded state.
  const std::smatch at = [&] {
    std::smatch m;
    std::regex_search(out, m,
                      std::regex("in a diversion \\(an inferior call or a write\\) from "
                                 "instruction ([0-9]+);"));
    return m;
  }();
  ASSERT_EQ(at.size(), 2u) << out;
  EXPECT_CONTAINS(out, "instruction " + std::to_string(std::stoull(at[1]) - 1) + ", ");
  // Forward to the end of the recording gives the replaylog stop.
  EXPECT_CONTAINS(out, "No more reverse-execution history.\n");  // forward end, same message
}

// With no breakpoint or watchpoint set nothing can stop a reverse-continue: it goes straight to
// the start, where gdb says so, at the recording's first instruction.
TEST_F(ReplayGdb, ReverseContinueWithNothingSetStopsAtTheStart) {
  const std::string trace = record_sort_hash(20000, 1);
  ASSERT_FALSE(HasFailure());
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_script("compute", server.port(),
                                     "printf \"START %lx\\n\", $pc\n"
                                     "continue\n"
                                     "monitor when\n"
                                     "reverse-continue\n"
                                     "printf \"BACK %lx\\n\", $pc\n"
                                     "monitor when\n");
  const auto start = tagged(out, "START ");
  const auto back = tagged(out, "BACK ");
  ASSERT_EQ(start.size(), 1u) << out;
  ASSERT_EQ(back.size(), 1u) << out;
  EXPECT_EQ(back[0], start[0]);
  EXPECT_CONTAINS(out, "at the end of the recording (completed)");
  EXPECT_CONTAINS(out, "\nNo more reverse-execution history.\n");
  EXPECT_CONTAINS(out, "instruction 0, before exit 0, in call 0 (initialisation)");
}

// gdb's inferior calls on a replay (rr's diversions): `print square(7)` runs the guest function
// in a throwaway copy of the state; afterwards registers, memory (the stack below SP that the
// call used included), stepi, reverse-stepi and continue are exactly as in the same session
// without the call, and the replay reaches the recording's end without diverging.
TEST_F(ReplayGdb, PrintCallsAGuestFunctionAndLeavesTheReplayExact) {
  const std::string trace = dir_.path("buggy.cap");
  std::vector<CallSpec> calls;
  for (int64_t v : {10, 20, 30}) calls.push_back({"add_sample", {vmm::Value{v}}});
  ASSERT_TRUE(record_guest("buggy", calls, trace));
  const auto session = [&](bool call) {
    ReplayServer server(trace);
    EXPECT_NE(server.port(), 0);
    const std::string calls_here =
        call ? "printf \"S %ld\\n\", square(7)\nprintf \"S %ld\\n\", square(args[0].u.i64)\n" : "";
    const std::string out = gdb_script(
        "buggy", server.port(),
        "break add_sample\n"
        "continue\n"
        "continue\n"
        "printf \"A %lx %lx %lx %lx\\n\", $pc, $sp, $rax, $rdi\n"
        "monitor when\n" +
            calls_here +
            "printf \"B %lx %lx %lx %lx\\n\", $pc, $sp, $rax, $rdi\n"
            "monitor when\n"
            "set $i = 0\n"
            "while $i < 48\n  printf \"M %lx\\n\", *(long*)($sp - 8 * $i)\n  set $i = $i + 1\nend\n"
            "stepi\n"
            "printf \"C %lx\\n\", $pc\n"
            "reverse-stepi\n"
            "reverse-stepi\n"
            "printf \"D %lx\\n\", $pc\n"
            "continue\n"
            "next\n"
            "printf \"V %ld\\n\", v\n"
            "continue\n"
            "printf \"V %ld %ld\\n\", args[0].u.i64, g_stats.count\n"
            "monitor when\n"
            "delete\n"
            "continue\n");
    server.finish();
    return out;
  };
  const std::string with = session(true);
  const std::string without = session(false);
  EXPECT_EQ(tagged(with, "S "), (std::vector<std::string>{"49", "400"})) << with;
  for (const char* tag : {"A ", "B ", "M ", "C ", "D ", "V ", "instruction "}) {
    SCOPED_TRACE(tag);
    EXPECT_FALSE(tagged(without, tag).empty()) << without;
    EXPECT_EQ(tagged(with, tag), tagged(without, tag)) << with;
  }
  EXPECT_EQ(tagged(with, "A "), tagged(with, "B "));
  EXPECT_EQ(tagged(with, "V "), (std::vector<std::string>{"20", "30 2"}));
  EXPECT_CONTAINS(with, "No more reverse-execution history.\n");  // the end, not a divergence
  EXPECT_EQ(with.find("SIGKILL"), std::string::npos) << with;
}

// A breakpoint condition that calls a guest function: evaluated at every hit going forward
// (gdb refuses inferior calls while executing in reverse: "Cannot call functions in reverse
// mode."), each in a diversion, and the replay goes on from the recorded state.
TEST_F(ReplayGdb, BreakpointConditionCallsAGuestFunction) {
  const std::string trace = dir_.path("buggy.cap");
  std::vector<CallSpec> calls;
  for (int64_t v : {10, 20, 30, 40}) calls.push_back({"add_sample", {vmm::Value{v}}});
  ASSERT_TRUE(record_guest("buggy", calls, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_script("buggy", server.port(),
                                     "break add_sample if square(args[0].u.i64) == 900\n"
                                     "continue\n"
                                     "printf \"X %ld %ld\\n\", args[0].u.i64, g_stats.count\n"
                                     "monitor when\n"
                                     "continue\n"
                                     "monitor when\n"
                                     "delete\n"
                                     "reverse-continue\n"
                                     "monitor when\n"
                                     "break add_sample if square(args[0].u.i64) == 900\n"
                                     "continue\n"
                                     "printf \"X %ld %ld\\n\", args[0].u.i64, g_stats.count\n"
                                     "monitor when\n");
  // The calls with 10 and 20 are passed over; 40 too, to the end of the recording.
  EXPECT_EQ(tagged(out, "X "), (std::vector<std::string>{"30 2", "30 2"})) << out;
  const auto at_30 = tagged(out, "instruction ");
  ASSERT_EQ(at_30.size(), 4u) << out;
  EXPECT_NE(at_30[0].find(", after exit 2, in call 3 (add_sample)"), std::string::npos) << out;
  EXPECT_NE(at_30[1].find(", at the end of the recording (completed)"), std::string::npos) << out;
  EXPECT_EQ(at_30[2], "0, before exit 0, in call 0 (initialisation)");
  EXPECT_EQ(at_30[3], at_30[0]);
  EXPECT_CONTAINS(out, "No more reverse-execution history.\n");
  EXPECT_EQ(out.find("SIGKILL"), std::string::npos) << out;
  EXPECT_EQ(out.find("Error"), std::string::npos) << out;
}

// What needs the host cannot run in a diversion: a host call stops it with SIGSYS, and the
// next reverse command returns to the recorded state.
TEST_F(ReplayGdb, AHostCallInADiversionStopsWithSigsys) {
  const std::string trace = dir_.path("hello.cap");
  ASSERT_TRUE(record_guest("hello", {{"greet", {vmm::Value{std::string("world")}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  // One -ex per command: the refused call is an error, which would end a script.
  const std::string out = gdb_session(
      "hello", server.port(),
      {"break hello.c:28", "continue", "monitor when", "set var *(long*)0x7fff00000000 = 1",
       "monitor when", "print hl_print(line)", "monitor when", "reverse-stepi", "monitor when",
       "continue", "print len", "delete", "continue"});
  // A write outside guest memory fails and diverts nothing (the second `monitor when`).
  EXPECT_CONTAINS(out, "Cannot access memory at address 0x7fff00000000");
  EXPECT_CONTAINS(out, "Program received signal SIGSYS");
  EXPECT_CONTAINS(out, "while in a function called from GDB.");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      out, m, std::regex("instruction ([0-9]+), after exit 0, in call 1 \\(greet\\)")))
      << out;
  const uint64_t at = std::stoull(m[1]);
  const std::string when = m[0];
  EXPECT_NE(out.find(when, out.find(when) + 1), std::string::npos) << out;
  EXPECT_CONTAINS(out, "in a diversion (an inferior call or a write) from instruction " +
                           std::to_string(at) + ";");
  EXPECT_CONTAINS(out,
                  "instruction " + std::to_string(at - 1) + ", after exit 0, in call 1 (greet)");
  EXPECT_CONTAINS(out, "Breakpoint 1, greet (");
  EXPECT_CONTAINS(out, "= 14\n");
  EXPECT_CONTAINS(out, "No more reverse-execution history.\n");
  EXPECT_EQ(out.find("SIGKILL"), std::string::npos) << out;
}

// A called function that never returns runs until Ctrl-C (SIGINT to gdb, 0x03 to the server),
// like a live guest; the next reverse command returns to the recorded state.
TEST_F(ReplayGdb, AnEndlessCallInADiversionIsInterrupted) {
  const std::string trace = dir_.path("faults.cap");
  ASSERT_TRUE(record_guest("faults", {{"still_alive", {}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = shell(
      "timeout 60 bash -c \"set -m; gdb -batch -nx -ex 'set confirm off' -ex 'target remote :" +
      std::to_string(server.port()) +
      "' -ex 'break still_alive' -ex continue -ex 'monitor when' -ex 'print infinite_loop(0, 0)' "
      "-ex 'monitor when' -ex reverse-stepi -ex 'monitor when' -ex delete -ex continue " +
      guest_path("faults") + " & p=\\$!; sleep 3; kill -INT \\$p; wait \\$p\"");
  EXPECT_CONTAINS(out, "Program received signal SIGINT, Interrupt.\ninfinite_loop (");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      out, m, std::regex("instruction ([0-9]+), after exit 0, in call 1 \\(still_alive\\)")))
      << out;
  const uint64_t at = std::stoull(m[1]);
  EXPECT_CONTAINS(out, "in a diversion (an inferior call or a write) from instruction " +
                           std::to_string(at) + ";");
  EXPECT_CONTAINS(
      out, "instruction " + std::to_string(at - 1) + ", after exit 0, in call 1 (still_alive)");
  EXPECT_CONTAINS(out, "No more reverse-execution history.\n");
}

// A user who received only the trace: plain gdb, no file given, in a directory with no copy of
// the ELF. gdb reads the recording's ELF through the target (qXfer:exec-file, vFile).
TEST_F(ReplayGdb, PlainGdbGetsSymbolsAndLinesFromTheRecording) {
  const std::string trace = dir_.path("hello.cap");
  ASSERT_TRUE(record_guest("hello", {{"greet", {vmm::Value{std::string("world")}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  TempDir elsewhere;
  const std::string out =
      shell("cd " + elsewhere.path("") +
            " && timeout 120 gdb -batch -nx -ex 'target remote :" + std::to_string(server.port()) +
            "' -ex 'break hello.c:29' -ex continue -ex 'print len' -ex 'info line *$pc' "
            "-ex 'info symbol $pc'");
  EXPECT_CONTAINS(out, "Breakpoint 1 at 0x");
  EXPECT_CONTAINS(out, "hello.c, line 29.");
  EXPECT_CONTAINS(out, "Breakpoint 1, greet (");
  EXPECT_CONTAINS(out, "$1 = 14\n");
  EXPECT_CONTAINS(out, "Line 29 of \"");
  EXPECT_CONTAINS(out, "greet + ");
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
  EXPECT_CONTAINS(out, "instruction " + icount[5] + ", after exit 5, in call 1 (chatter)");
  EXPECT_CONTAINS(out, "instruction " + icount[1] + ", after exit 1, in call 1 (chatter)");
  EXPECT_CONTAINS(out, "=> exit 1 port-out port=0x6c00 icount=" + icount[1]);
  EXPECT_CONTAINS(out, "   exit 0 halt icount=" + icount[0]);
  EXPECT_CONTAINS(out, "instruction " + icount[9] + ", after exit 9, in call 1 (chatter)");
  EXPECT_CONTAINS(out, "no exit 99: the recording has " + std::to_string(icount.size()) + " exits");
  EXPECT_CONTAINS(out, "seek-icount");
}

// `monitor checkpoints`: what replay keeps and what it cost. A short recording is never thinned:
// after a continue, one kept checkpoint every 100,000 instructions from 0, every instruction
// replayed once, no recent ones (kept ones are nearer than a continue's would be), and what ran
// in every window of it known.
TEST_F(ReplayGdb, MonitorCheckpointsTellsWhatReplayKeeps) {
  const std::string trace = record_sort_hash(20000, 1);
  ASSERT_FALSE(HasFailure());
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_script("compute", server.port(),
                                     "continue\n"
                                     "monitor when\n"
                                     "monitor checkpoints\n");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("instruction ([0-9]+), after exit"))) << out;
  const uint64_t end = std::stoull(m[1]);
  ASSERT_GT(end, 1'000'000u) << out;
  EXPECT_CONTAINS(out,
                  "kept: " + std::to_string(end / 100'000 + 1) + ", every 100000 instructions");
  EXPECT_CONTAINS(out, "recent: 0;");
  EXPECT_CONTAINS(out, "replayed: " + std::to_string(end) + " instructions by seeks");
  // Every window the continue ran, the last one partly (to the recording's end).
  EXPECT_CONTAINS(out, "activity map: " + std::to_string((end + 99'999) / 100'000) +
                           " windows of 100000 instructions known");
  EXPECT_CONTAINS(out, "taking checkpoints: ");
}
}  // namespace
}  // namespace hlrr::testing
