// A trace recorded with --embed-sources carries the guest's sources: hltrace info lists them,
// and gdb started by `hlreplay --gdb` shows source lines on a machine where the source tree is
// gone (the test hides it under an empty tmpfs in a private mount namespace, root only).
#include <gtest/gtest.h>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

const std::string kBuggySource = std::string(HLRR_SOURCE_DIR) + "/guest/examples/buggy.c";

class EmbedSources : public ::testing::Test {
 protected:
  void record(const std::string& trace, bool embed) {
    std::vector<std::string> args = {tool_path("hlrun"), guest_path("buggy"), "--call",
                                     "add_sample",       "5",                 "--vcpu",
                                     "unicorn",          "--record",          trace};
    if (embed) args.push_back("--embed-sources");
    auto r = run_process(args, std::chrono::seconds(60));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // `hlreplay TRACE --gdb` fed gdb commands on stdin, from an empty folder, with the source
  // tree's guest/ hidden: nothing but the trace is there.
  std::string gdb_without_checkout(const std::string& trace, const std::string& commands) {
    const std::string empty = dir_.path("empty");
    std::filesystem::create_directories(empty);
    return shell("printf '" + commands + "' | unshare -m sh -c 'mount -t tmpfs none " +
                 HLRR_SOURCE_DIR + "/guest && cd " + empty + " && timeout 60 " +
                 tool_path("hlreplay") + " " + trace + " --gdb' 2>&1");
  }
  void require_private_mounts() {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
    const std::string probe = shell("unshare -m sh -c 'mount -t tmpfs none " +
                                    std::string(HLRR_SOURCE_DIR) + "/guest && ls " +
                                    HLRR_SOURCE_DIR + "/guest | wc -l' 2>&1");
    if (probe != "0\n") GTEST_SKIP() << "cannot hide the sources (unshare -m needs root): " << probe;
  }
  TempDir dir_;
};

TEST_F(EmbedSources, HltraceInfoListsTheGuestsSourcesAndTheirSizes) {
  record(dir_.path("with.cap"), true);
  record(dir_.path("without.cap"), false);
  const std::string with = shell(tool_path("hltrace") + " info " + dir_.path("with.cap"));
  const auto size = std::filesystem::file_size(kBuggySource);
  EXPECT_CONTAINS(with, "  " + kBuggySource + " (" + std::to_string(size) + " bytes)\n");
  EXPECT_CONTAINS(with, "/guest/runtime/runtime.c (");
  EXPECT_EQ(with.find("<built-in>"), std::string::npos) << with;
  const std::string without = shell(tool_path("hltrace") + " info " + dir_.path("without.cap"));
  EXPECT_CONTAINS(without, "sources:       0 files embedded (0 bytes)\n");
}

TEST_F(EmbedSources, GdbShowsSourceLinesFromTheRecordingWithoutTheCheckout) {
  require_private_mounts();
  record(dir_.path("with.cap"), true);
  record(dir_.path("without.cap"), false);
  const std::string commands = "break add_sample\\ncontinue\\nlist 34,34\\ninfo source\\n";
  const std::string with = gdb_without_checkout(dir_.path("with.cap"), commands);
  EXPECT_CONTAINS(with, "34\t  g_stats.samples[slot] = v; /* BUG: off-by-one store */");
  EXPECT_CONTAINS(with, "Current source file is " + kBuggySource);
  EXPECT_CONTAINS(with, "/sources" + kBuggySource);  // "Located in" the extracted copy
  // The control: the same session without embedded sources has no lines to show.
  const std::string without = gdb_without_checkout(dir_.path("without.cap"), commands);
  EXPECT_EQ(without.find("BUG: off-by-one store"), std::string::npos) << without;
  EXPECT_CONTAINS(without, "No such file or directory");
}

TEST_F(EmbedSources, IsRefusedWithoutRecord) {
  auto r = run_process({tool_path("hlrun"), guest_path("buggy"), "--call", "mean",
                        "--embed-sources"},
                       std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.err, "--embed-sources requires --record");
}

}  // namespace
}  // namespace hlrr::testing
