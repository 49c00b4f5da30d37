// ELF cores of a guest, opened by real gdb: `hlreplay --core-at` (the end of a recording that
// faulted, a point in the middle of a call) and `hlrun --core-on-fault`. Values asserted: the
// backtrace's functions and lines, $pc against the fault RIP hlrun printed, variables.
#include <fstream>
#include <regex>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

// The line of guest/examples/NAME holding `marker` (a comment in the source), as "NAME:LINE".
std::string marked_line(const std::string& file, const std::string& marker) {
  std::ifstream source(std::string(HLRR_SOURCE_DIR) + "/guest/examples/" + file);
  std::string line;
  for (int n = 1; std::getline(source, line); ++n)
    if (line.find(marker) != std::string::npos) return file + ":" + std::to_string(n);
  ADD_FAILURE() << marker << " not found in " << file;
  return "?";
}

// gdb on a core, no target: `gdb -batch -nx guest.elf core -ex ...`.
std::string gdb_core(const std::string& guest, const std::string& core,
                     const std::vector<std::string>& commands) {
  return shell("timeout 60 gdb -batch -nx " + guest_path(guest) + " " + core +
               quote_all("-ex", commands) + " 2>&1");
}

// "#PF at 0x1234 in ..." -> 0x1234.
std::string fault_rip(const std::string& err) {
  std::smatch m;
  return std::regex_search(err, m, std::regex("#PF at (0x[0-9a-f]+) in deep_inner")) ? m[1].str()
                                                                                     : "?";
}

class CoreDump : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  }
  // The backtrace of faults.elf's deep_fault(7) and the values gdb reads from the core.
  void expect_deep_fault_core(const std::string& core, const std::string& rip) {
    const std::string out =
        gdb_core("faults", core,
                 {"bt", "printf \"PC %#lx\\n\", $pc", "printf \"MARKER %ld\\n\", g_deep_marker",
                  "frame 1", "printf \"N %ld\\n\", n", "x/1gx 0", "x/1gx 0x30000"});
    EXPECT_TRUE(
        std::regex_search(out, std::regex("#0 +(0x[0-9a-f]+ in )?deep_inner \\(.*\\) at .*" +
                                          marked_line("faults.c", "DEEP_INNER"))))
        << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("#1 +0x[0-9a-f]+ in deep_outer \\(n=7\\) at .*" +
                                                  marked_line("faults.c", "DEEP_OUTER"))))
        << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("#2 +0x[0-9a-f]+ in deep_fault \\(.*\\) at .*" +
                                                  marked_line("faults.c", "DEEP_FAULT"))))
        << out;
    EXPECT_CONTAINS(out, "PC " + rip + "\n");
    EXPECT_CONTAINS(out, "MARKER 7\n");
    EXPECT_CONTAINS(out, "N 7\n");
    // Page 0 and the stack guard are not in the core, as the guest cannot read them.
    EXPECT_CONTAINS(out, "Cannot access memory at address 0x0\n");
    EXPECT_CONTAINS(out, "Cannot access memory at address 0x30000\n");
    EXPECT_CONTAINS(out, "Program terminated with signal SIGSEGV");
  }
  TempDir dir_;
};

TEST_F(CoreDump, HlreplayCoreAtTheEndOfAFaultingRecordingHasTheFaultsBacktrace) {
  const std::string trace = dir_.path("fault.cap"), core = dir_.path("fault.core");
  auto rec = run_process({tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--call",
                          "deep_fault", "7", "--record", trace});
  ASSERT_EQ(rec.exit_code, 1) << rec.err;
  const std::string rip = fault_rip(rec.err);
  ASSERT_NE(rip, "?") << rec.err;
  auto dump = run_process({tool_path("hlreplay"), trace, "--core-at", "-o", core});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_TRUE(std::regex_match(dump.out,
                               std::regex("core at instruction [0-9]+ written to " + core + "\n")))
      << dump.out;
  expect_deep_fault_core(core, rip);
}

// A point in the middle of buggy.elf's add_sample, found as a user would: break on a line in
// hlreplay -g, `monitor when`; the core written there shows that frame and its locals.
TEST_F(CoreDump, HlreplayCoreAtAnInstructionShowsThatFrameAndItsLocals) {
  const std::string trace = dir_.path("buggy.cap"), core = dir_.path("buggy.core");
  auto rec = run_process({tool_path("hlrun"), guest_path("buggy"), "--vcpu", "unicorn", "--call",
                          "add_sample", "5", "--call", "add_sample", "42", "--record", trace});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const std::string line = marked_line("buggy.c", "BUG: off-by-one store");
  std::string when;
  {
    BackgroundServer server("timeout 120 " + tool_path("hlreplay") + " " + trace + " -g 0");
    ASSERT_NE(server.port(), 0);
    const std::string out = gdb_session(
        "buggy", server.port(), {"break " + line, "continue", "continue", "monitor when", "kill"});
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex("instruction ([0-9]+)"))) << out;
    when = m[1];
  }
  auto dump = run_process({tool_path("hlreplay"), trace, "--core-at", when, "-o", core});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const std::string out = gdb_core(
      "buggy", core,
      {"bt 1", "printf \"V %ld\\n\", v", "printf \"SLOT %ld\\n\", slot",
       "printf \"COUNT %ld\\n\", g_stats.count", "printf \"S0 %ld\\n\", g_stats.samples[0]"});
  EXPECT_TRUE(std::regex_search(out, std::regex("#0 +add_sample \\(.*\\) at .*" + line))) << out;
  EXPECT_CONTAINS(out, "V 42\n");  // the second call's argument
  EXPECT_CONTAINS(out, "SLOT 1\n");
  EXPECT_CONTAINS(out, "COUNT 2\n");  // incremented, the sample not yet stored
  EXPECT_CONTAINS(out, "S0 5\n");
  EXPECT_CONTAINS(out, "Program terminated with signal SIGTRAP");
}

// A live fault, written by hlrun itself: the state the vCPU stopped in, at the faulting `mov`.
TEST_F(CoreDump, HlrunCoreOnFaultHasTheFaultsBacktrace) {
  const std::string core = dir_.path("live.core");
  auto run = run_process({tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--call",
                          "deep_fault", "7", "--core-on-fault", core});
  ASSERT_EQ(run.exit_code, 1) << run.err;
  const std::string rip = fault_rip(run.err);
  ASSERT_NE(rip, "?") << run.err;
  EXPECT_CONTAINS(run.err, "hlrun: core written to " + core + "\n");
  expect_deep_fault_core(core, rip);
  // A call that returns writes nothing.
  const std::string none = dir_.path("none.core");
  auto ok = run_process({tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--call",
                         "still_alive", "--core-on-fault", none});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_FALSE(std::filesystem::exists(none));
  // A full disk: the fault's line, then why there is no core; still exit 1.
  auto full = run_process({tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--call",
                           "deep_fault", "7", "--core-on-fault", "/dev/full"});
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_CONTAINS(full.err, "hlrun: --core-on-fault: /dev/full: No space left on device\n");
}

// Under -g the core is written when the guest faults, before gdb is told of the stop: it is on
// disk while gdb looks at the fault, and holds the same faulting state as without a debugger.
TEST_F(CoreDump, HlrunCoreOnFaultUnderADebuggerIsWrittenAtTheFault) {
  const std::string core = dir_.path("debugged.core");
  std::string out;
  std::string server_output;
  {
    DebuggedHlrun hlrun("unicorn", "faults", "deep_fault 7", "--core-on-fault " + core);
    ASSERT_NE(hlrun.port(), 0);
    out = gdb_session("faults", hlrun.port(),
                      {"continue", "printf \"PC %#lx\\n\", $pc",
                       "shell test -s " + core + " && echo CORE-ON-DISK", "kill"});
    server_output = hlrun.finish();
    EXPECT_EQ(hlrun.exit_code(), 1) << server_output;
  }
  EXPECT_CONTAINS(out, "Program received signal SIGSEGV");
  EXPECT_CONTAINS(out, "CORE-ON-DISK\n");
  EXPECT_CONTAINS(server_output, "hlrun: core written to " + core + "\n");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("PC (0x[0-9a-f]+)\n"))) << out;
  expect_deep_fault_core(core, m[1].str());
}

// `monitor core PATH` writes hlrr's own core from inside a debugging session, at the point gdb
// stopped at (gdb's own `gcore` works too: gcore_test.cc).
TEST_F(CoreDump, MonitorCoreInAReplaySessionWritesTheCoreOfThatPoint) {
  const std::string trace = dir_.path("fault.cap"), core = dir_.path("monitor.core");
  auto rec = run_process({tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--call",
                          "deep_fault", "7", "--record", trace});
  ASSERT_EQ(rec.exit_code, 1) << rec.err;
  {
    BackgroundServer server("timeout 120 " + tool_path("hlreplay") + " " + trace + " -g 0");
    ASSERT_NE(server.port(), 0);
    const std::string out =
        gdb_session("faults", server.port(), {"continue", "monitor core " + core, "kill"});
    EXPECT_TRUE(
        std::regex_search(out, std::regex("core written to " + core + " at instruction [0-9]+")))
        << out;
  }
  expect_deep_fault_core(core, fault_rip(rec.err));
}

TEST_F(CoreDump, HlreplayCoreAtBeyondTheEndIsAOneLineUsageError) {
  const std::string trace = dir_.path("hello.cap"), core = dir_.path("hello.core");
  auto rec = run_process({tool_path("hlrun"), guest_path("hello"), "--vcpu", "unicorn", "--call",
                          "greet", "x", "--record", trace});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  auto dump = run_process({tool_path("hlreplay"), trace, "--core-at", "999999999999", "-o", core});
  EXPECT_EQ(dump.exit_code, 2);
  EXPECT_TRUE(
      std::regex_match(dump.err, std::regex("hlreplay: --core-at: instruction 999999999999 is "
                                            "beyond the end of the recording \\([0-9]+ "
                                            "instructions\\)\n")))
      << dump.err;
  EXPECT_FALSE(std::filesystem::exists(core));
  // With a debugger or --check: refused before anything is read.
  for (const char* other : {"-g", "--check"}) {
    std::vector<std::string> argv = {
        tool_path("hlreplay"), trace, "--core-at", "5", "-o", core, other};
    if (std::string(other) == "-g") argv.push_back("0");
    auto refused = run_process(argv);
    EXPECT_EQ(refused.exit_code, 2) << other;
    EXPECT_CONTAINS(refused.err, "excludes");
  }
  // A full disk: one line, non-zero.
  auto full = run_process({tool_path("hlreplay"), trace, "--core-at", "-o", "/dev/full"});
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_EQ(full.err, "hlreplay: /dev/full: No space left on device\n");
}

}  // namespace
}  // namespace hlrr::testing
