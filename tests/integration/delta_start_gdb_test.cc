// gdb on a session recorded with hlrun --record-memory: `monitor seek-call N` to a late call
// starts from the memory delta before it (the calls before are not re-executed), and gdb then
// sees the guest's variables and goes back with a watchpoint into the calls before that delta.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/live_debug.h"

namespace hlrr::testing {
namespace {

// 100 rounds of buggy's reset, five samples (round * 10 + 1..5), sample_count: call 7r + 1 is
// round r's reset, 7r + 2..7r + 6 its samples, 7r + 7 its count (call 0: the initialisation).
std::string rounds() {
  std::string text;
  for (int r = 0; r < 100; ++r) {
    text += "reset\n";
    for (int k = 1; k <= 5; ++k) text += "add_sample " + std::to_string(r * 10 + k) + "\n";
    text += "sample_count\n";
  }
  return text;
}

TEST(DeltaStartGdb, SeekCallToALateCallThenReverseContinueToEarlierCalls) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  char d[] = "/tmp/hlrr-delta-XXXXXX";
  const std::string dir = mkdtemp(d);
  {
    std::ofstream f(dir + "/calls.txt");
    f << rounds();
  }
  const std::string trace = dir + "/s.cap";
  auto r =
      run_process({tool_path("hlrun"), guest_path("buggy"), "--vcpu", "unicorn", "--calls",
                   dir + "/calls.txt", "--record", trace, "--record-memory", "--delta-every", "2"},
                  std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.out.find("[700] result: 5\n"), std::string::npos) << r.out;

  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_session(
      "buggy", server.port(),
      {"monitor seek-call 700", "maintenance flush register-cache", "print g_stats.count",
       "print g_stats.samples[4]", "watch g_stats.count", "reverse-continue", "print v",
       "monitor when", "reverse-continue", "reverse-continue", "print v", "monitor when",
       "monitor seek 650", "monitor when"});
  EXPECT_CONTAINS(out, ", after exit 699, in call 700 (sample_count)\n");
  EXPECT_CONTAINS(out, "$1 = 5\n");
  EXPECT_CONTAINS(out, "$2 = 995\n");
  // Back into the samples before, one call at a time (count++ stores 4, 3, 2 going forward).
  EXPECT_CONTAINS(out, "Old value = 5\nNew value = 4\n");
  EXPECT_CONTAINS(out, "$3 = 995\n");
  EXPECT_CONTAINS(out, ", after exit 698, in call 699 (add_sample)\n");
  EXPECT_CONTAINS(out, "Old value = 4\nNew value = 3\n");
  EXPECT_CONTAINS(out, "Old value = 3\nNew value = 2\n");
  EXPECT_CONTAINS(out, "$4 = 993\n");
  EXPECT_CONTAINS(out, ", after exit 696, in call 697 (add_sample)\n");
  // monitor seek EXIT knows the exit's count from the recording too.
  EXPECT_CONTAINS(out, ", after exit 650, in call 651 (sample_count)\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hlrr::testing
