// `hltrace diff` on two recordings of compute's sort_hash with different seeds: it names the
// differing argument; with --replay, the first instruction after which the executions' registers
// differ. The parting is checked against what we did not write: gdb's line table lookup of the
// reported address, and gdb on each replay, stepping over that instruction.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "tests/integration/live_debug.h"

namespace hlrr::testing {
namespace {

class TraceDiff : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
    for (const char* seed : {"1", "2"}) {
      auto r = run_process({tool_path("hlrun"), guest_path("compute"), "--call", "sort_hash",
                            "1000", seed, "--vcpu", "unicorn", "--record", trace(seed)},
                           std::chrono::seconds(60));
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string trace(const std::string& seed) const { return dir_ + "/seed" + seed + ".cap"; }
  ProcessResult hltrace(std::vector<std::string> args) {
    args.insert(args.begin(), {tool_path("hltrace"), "diff"});
    return run_process(args, std::chrono::seconds(120));
  }

  std::string dir_ = [] {
    char d[] = "/tmp/hlrr-diff-XXXXXX";
    return std::string(mkdtemp(d));
  }();
};

TEST_F(TraceDiff, TheSameRecordingHasNoDifference) {
  auto r = hltrace({trace("1"), trace("1")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no difference: 1 calls and 2 exits agree\n");
}

TEST_F(TraceDiff, TwoSeedsDifferInTheSecondArgument) {
  auto r = hltrace({trace("1"), trace("2")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "first difference: call 1 (sort_hash): argument 2: 1 vs 2\n"
            "  (0 calls and 1 exits agree before it)\n");
}

TEST_F(TraceDiff, ReplayNamesTheFirstInstructionWhereTheExecutionsPart) {
  auto r = hltrace({trace("1"), trace("2"), "--replay"});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  std::smatch m;
  const std::regex parting(
      "executions part at instruction ([0-9]+) in a and ([0-9]+) in b: rip (0x[0-9a-f]+) "
      "([A-Za-z_][A-Za-z_0-9]*)\\+0x[0-9a-f]+ \\(([a-z_]+\\.c):([0-9]+)\\): after it "
      "([a-z0-9]+): 0x1 vs 0x2\n");
  ASSERT_TRUE(std::regex_search(r.out, m, parting)) << r.out;
  EXPECT_EQ(m[1], m[2]);
  const std::string count = m[1], rip = m[3], file = m[5], line = m[6], reg = m[7];

  // gdb's own line table agrees on the source line of that address.
  auto info =
      run_process({"gdb", "-batch", "-nx", "-ex", "info line *" + rip, guest_path("compute")},
                  std::chrono::seconds(60));
  EXPECT_NE(info.out.find("Line " + line + " of \""), std::string::npos) << info.out;
  EXPECT_NE(info.out.find(file + "\""), std::string::npos) << info.out;

  // On each replay, at that instruction count the pc is that address, and after one stepi the
  // named register holds each run's seed.
  for (const char* seed : {"1", "2"}) {
    ReplayServer server(trace(seed));
    ASSERT_GT(server.port(), 0);
    const std::string out =
        gdb_session("compute", server.port(),
                    {"monitor seek-icount " + count, "maintenance flush register-cache", "p/x $pc",
                     "stepi", "p/x $" + reg});
    EXPECT_NE(out.find("$1 = " + rip + "\n"), std::string::npos) << out;
    EXPECT_NE(out.find("$2 = 0x" + std::string(seed) + "\n"), std::string::npos) << out;
  }
}

TEST_F(TraceDiff, UnreadableTracesAreTroubleNotADifference) {
  auto r = hltrace({trace("1"), dir_ + "/missing.cap"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("hltrace diff: " + dir_ + "/missing.cap: "), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hlrr::testing
