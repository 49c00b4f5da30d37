// Call sessions end to end: hlrun runs several calls in one sandbox and one recording (--call
// repeated, --calls FILE or stdin, --fresh); hlreplay knows the calls (monitor calls,
// seek-call, when), and gdb finds buggy.c's state-dependent bug in a recorded session.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/live_debug.h"

namespace hlrr::testing {
namespace {

ProcessResult hlrun(std::vector<std::string> args, const std::string& stdin_text = "") {
  args.insert(args.begin(), tool_path("hlrun"));
  args.insert(args.end(), {"--vcpu", "unicorn"});
  return run_process(args, std::chrono::seconds(60), stdin_text);
}

// buggy.c's scenario as a calls file: 16 samples, the 17th that corrupts count, then mean.
std::string buggy_session() {
  std::string text = "# fill the stats, then one too many\n";
  for (int v = 10; v <= 160; v += 10) text += "add_sample " + std::to_string(v) + "\n";
  return text + "add_sample 1000\nmean\n";
}

class CallSession : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_ = [] {
    char d[] = "/tmp/hlrr-calls-XXXXXX";
    return std::string(mkdtemp(d));
  }();
};

TEST_F(CallSession, RepeatedCallsShareTheGuestStateAndPrintOneResultEach) {
  auto r = hlrun({guest_path("buggy"), "--call", "add_sample", "10", "--call", "add_sample", "20",
                  "--call", "mean"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[1] result: 1\n[2] result: 2\n[3] result: 15\n");
  // --fresh: every call starts from the state right after the initialisation.
  r = hlrun({guest_path("buggy"), "--fresh", "--call", "add_sample", "10", "--call", "add_sample",
             "20", "--call", "sample_count"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[1] result: 1\n[2] result: 1\n[3] result: 0\n");
}

TEST_F(CallSession, TheSeventeenthSampleBugReproducesFromACallsFileOnStdin) {
  auto r = hlrun({guest_path("buggy"), "--calls", "-"}, buggy_session());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[16] result: 16\n[17] result: 17\n[18] result: 1\n"), std::string::npos)
      << r.out;
  // The same calls, each from a fresh state: no corruption, mean of one sample each time. The
  // restores are in the recording: it replays exactly.
  r = hlrun({guest_path("buggy"), "--calls", "-", "--fresh", "--record", path("fresh.cap")},
            buggy_session());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[16] result: 1\n[17] result: 1\n[18] result: 0\n"), std::string::npos)
      << r.out;
  auto check = run_process({tool_path("hlreplay"), path("fresh.cap"), "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out.rfind("deterministic: 19 exits, ", 0), 0u) << check.out;
}

TEST_F(CallSession, AFaultEndsTheSessionWithStatusOneAndNamesTheCall) {
  auto r = hlrun({guest_path("faults"), "--call", "still_alive", "--call", "null_deref", "--call",
                  "still_alive", "--record", path("f.cap")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("[1] result: ", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find("[3]"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.rfind("hlrun: [2] null_deref: guest fault: #PF at ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("\nhlrun: call 3 not run\n"), std::string::npos) << r.err;
  auto check = run_process({tool_path("hlreplay"), path("f.cap"), "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(CallSession, BadSessionsAreOneLineAndStatusTwo) {
  auto r = hlrun({guest_path("buggy"), "--calls", "-"}, "mean\ngreet \"open\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "hlrun: --calls: stdin:2: unterminated quote\n");
  r = hlrun({guest_path("buggy"), "--calls", path("missing.txt")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "hlrun: --calls: cannot open '" + path("missing.txt") + "'\n");
  r = hlrun({guest_path("buggy"), "--call", "mean", "--call", "mean", "-g", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "hlrun: -g debugs one call; record the session (--record) and debug the recording "
            "with hlreplay\n");
}

// The scenario: a session recorded with hlrun, replayed under gdb, the bug found with a
// watchpoint and reverse-continue from the start of the call that shows it.
TEST_F(CallSession, GdbFindsTheCorruptingStoreInARecordedSession) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  {
    std::ofstream f(path("calls.txt"));
    f << buggy_session();
  }
  auto r = hlrun({guest_path("buggy"), "--calls", path("calls.txt"), "--record", path("s.cap")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.out.find("[18] result: 1\n"), std::string::npos) << r.out;

  // The BUG line's number, from the source.
  std::ifstream source(std::string(HLRR_SOURCE_DIR) + "/guest/examples/buggy.c");
  std::string text;
  int bug_line = 0;
  for (int n = 1; std::getline(source, text); ++n) {
    if (text.find("BUG: off-by-one store") != std::string::npos) bug_line = n;
  }
  ASSERT_GT(bug_line, 0);

  BackgroundServer server("timeout 120 " + tool_path("hlreplay") + " " + path("s.cap") + " -g 0");
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("buggy", server.port(),
                  {"monitor calls", "monitor seek-call 18", "maintenance flush register-cache",
                   "monitor when", "print g_stats.count", "watch g_stats.count", "reverse-continue",
                   "info line *$pc", "print g_stats.count", "print v", "monitor when"});
  EXPECT_CONTAINS(out, "=> 0 (initialisation): exits 0-0, from instruction 0, returned ");
  EXPECT_CONTAINS(out, "   1 add_sample(10): exits 1-1, returned 1\n");
  EXPECT_CONTAINS(out, "   17 add_sample(1000): exits 17-17, returned 17\n");
  EXPECT_CONTAINS(out, "   18 mean(): exits 18-18, returned 1\n");
  EXPECT_CONTAINS(out, ", after exit 17, in call 18 (mean)\n");
  EXPECT_CONTAINS(out, "$1 = 1000\n");
  // Stopped at the store on the BUG line: going back, count returns from 1000 to 17.
  EXPECT_CONTAINS(out, "Hardware watchpoint 1: g_stats.count");
  EXPECT_CONTAINS(out, "Old value = 1000\nNew value = 17\n");
  EXPECT_CONTAINS(out, "Line " + std::to_string(bug_line) + " of \"");
  EXPECT_CONTAINS(out, "$2 = 17\n");
  EXPECT_CONTAINS(out, "$3 = 1000\n");
  EXPECT_CONTAINS(out, ", after exit 16, in call 17 (add_sample)\n");
}

}  // namespace
}  // namespace hlrr::testing
