// Reverse debugging end to end with lldb 22 (`process continue --reverse`, the first lldb with
// reverse execution over gdb-remote) against `hlreplay trace.cap -g 0`. scripts/install-deps.sh
// unpacks lldb 22 beside Debian's lldb 14; the tests skip, saying so, only where it is absent.
#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

class ReplayLldb : public ::testing::Test {
 protected:
  void SetUp() override {
    lldb_ = lldb22();
    if (lldb_.empty()) GTEST_SKIP() << lldb22_missing();
  }
  // Not `-b`: batch mode stops at the first "abnormal" stop, and lldb counts a history boundary
  // as one. Commands come from -o; stdin is empty, so lldb quits after the last one.
  std::string session(const std::string& guest, int port,
                      const std::vector<std::string>& commands) {
    return shell("timeout 120 " + lldb_ + " " + guest_path(guest) + " -o 'gdb-remote " +
                 std::to_string(port) + "'" + quote_all("-o", commands) + " </dev/null");
  }
  std::string lldb_;
  TempDir dir_;
};

// Between two markers: the output of the commands run between them.
std::string between(const std::string& out, const std::string& from, const std::string& to) {
  const auto begin = out.find(from);
  if (begin == std::string::npos) return "";
  const auto end = out.find(to, begin);
  return out.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// buggy.c's scenario, as replay_gdb_test's: after 16 samples, add_sample(1000) overwrites
// count. Reverse to the watchpoint, then to breakpoints, forward again, and both ends.
TEST_F(ReplayLldb, ReverseContinueToWatchpointAndBreakpointsForwardAgainAndBoundaries) {
  const std::string trace = dir_.path("buggy.cap");
  ASSERT_TRUE(record_guest("buggy", buggy_off_by_one_calls(), trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string when = "process plugin packet monitor when";
  const std::string out = session("buggy", server.port(),
                                  {"breakpoint set -n mean",
                                   "process continue",
                                   "target variable g_stats.count",
                                   "watchpoint set variable g_stats.count",
                                   "process continue --reverse",
                                   "target variable g_stats.count",
                                   "frame variable v",
                                   "watchpoint delete 1",
                                   "breakpoint set -n add_sample",
                                   "process continue --reverse",
                                   when,
                                   "process continue --reverse",
                                   when,
                                   "process continue --forward",
                                   when,
                                   "breakpoint delete 1 2",
                                   "process continue --forward",
                                   when,
                                   "process continue --reverse",
                                   when,
                                   "register read rip",
                                   "kill"});
  // Forward to mean(): count is 1000.
  EXPECT_CONTAINS(out, "stop reason = breakpoint 1.1");
  EXPECT_CONTAINS(out, "(int64_t) g_stats.count = 1000\n");
  // Back to the store that wrote it, on the BUG line, before it happened: count still 17.
  const std::string watch = between(out, "process continue --reverse", "watchpoint delete 1");
  EXPECT_CONTAINS(watch, "stop reason = watchpoint 1");
  EXPECT_CONTAINS(watch, "old value: 1000\nnew value: 17\n");
  EXPECT_CONTAINS(watch, "buggy.c:34");
  EXPECT_CONTAINS(watch, "(int64_t) g_stats.count = 17\n");
  EXPECT_CONTAINS(watch, "(const int64_t) v = 1000\n");
  // Back to add_sample's breakpoint: the 17th call's entry, then the 16th's (the
  // initialisation's halt is exit 0, the calls' halts exits 1..16); forward again: the 17th.
  EXPECT_CONTAINS(out, "stop reason = breakpoint 2.1");
  const std::string rest = between(out, "breakpoint set -n add_sample", "kill");
  const auto on = [&](const std::string& what) { return rest.find(what); };
  ASSERT_NE(on("after exit 16, in call 17 (add_sample)"), std::string::npos) << rest;
  ASSERT_NE(on("after exit 15, in call 16 (add_sample)"), std::string::npos) << rest;
  EXPECT_LT(on("after exit 16, in call 17 (add_sample)"),
            on("after exit 15, in call 16 (add_sample)"));
  EXPECT_NE(rest.find("after exit 16, in call 17 (add_sample)",
                      on("after exit 15, in call 16 (add_sample)")),
            std::string::npos)
      << rest;
  // With no breakpoints: forward to the end of the recording, back to its start. Both are
  // history boundaries.
  const std::string ends = between(out, "breakpoint delete 1 2", "kill");
  size_t boundaries = 0;
  for (auto at = ends.find("stop reason = history boundary"); at != std::string::npos;
       at = ends.find("stop reason = history boundary", at + 1)) {
    ++boundaries;
  }
  EXPECT_EQ(boundaries, 2u) << ends;
  EXPECT_CONTAINS(ends, "at the end of the recording (completed)");
  EXPECT_CONTAINS(ends, "instruction 0, before exit 0, in call 0 (initialisation)");
  auto image = vmm::ElfImage::read_file(guest_path("buggy"));
  ASSERT_TRUE(image.has_value());
  char rip[64];
  std::snprintf(rip, sizeof rip, "rip = 0x%016llx",
                static_cast<unsigned long long>(image->entry()));
  EXPECT_CONTAINS(ends, rip);
  EXPECT_EQ(server.finish().find("error"), std::string::npos);
}

}  // namespace
}  // namespace hlrr::testing
