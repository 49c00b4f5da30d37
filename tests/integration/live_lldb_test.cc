// Live debugging end to end with lldb (Debian's lldb 14, and lldb 22 from install-deps.sh) against
// `hlrun -g 0`, on both vCPU backends.
#include <regex>

#include "tests/integration/live_debug.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

class LiveLldb : public BackendTest {
 protected:
  std::string backend() const { return std::string(vmm::to_string(GetParam())); }
  void session(const std::string& lldb) {
    auto image = vmm::ElfImage::read_file(guest_path("hello"));
    ASSERT_TRUE(image.has_value());
    // lldb stops `breakpoint set -n greet` on greet's first statement (line 20), as gdb.
    const uint64_t greet = line_address("hello", "hello.c:20");
    ASSERT_GT(greet, *image->symbols().address_of("greet"));
    DebuggedHlrun hlrun(backend(), "hello", "greet world");
    ASSERT_NE(hlrun.port(), 0);
    char rip[64];
    std::snprintf(rip, sizeof rip, "rip = 0x%016llx", static_cast<unsigned long long>(greet));
    const std::string out = lldb_session(
        lldb, "hello", hlrun.port(),
        {"breakpoint set -n greet", "continue", "register read rip", "frame variable argc",
         "breakpoint set -l 28", "continue", "frame variable len",
         "memory read -s4 -c1 -fx 0x10000", "step", "memory region 0x100000",
         "memory region 0x31000", "memory region 0", "kill"});
    EXPECT_CONTAINS(out, "Breakpoint 1: where = hello.elf`greet");
    // lldb 14 puts two spaces before the symbol, lldb 22 one.
    EXPECT_TRUE(std::regex_search(out, std::regex(std::string(rip) + " +hello\\.elf`greet")))
        << out;
    EXPECT_CONTAINS(out, "(uint32_t) argc = 1");
    EXPECT_CONTAINS(out, "(const int) len = 14");
    EXPECT_CONTAINS(out, "0x00010000: 0x484c4d31");  // the call message's magic, "HLM1"
    EXPECT_CONTAINS(out, "stop reason = step in");
    // The memory map from hl_abi.h's layout and the ELF's segments.
    EXPECT_CONTAINS(out, "[0x0000000000100000-0x");
    EXPECT_CONTAINS(out, ") r-x text");
    EXPECT_CONTAINS(out, "[0x0000000000031000-0x0000000000100000) rw- stack");
    EXPECT_CONTAINS(out, "[0x0000000000000000-0x0000000000001000) ---");
    EXPECT_CONTAINS(hlrun.finish(), "hlrun: killed by the debugger\n");
    EXPECT_EQ(hlrun.exit_code(), 1);
  }
};

TEST_P(LiveLldb, BreakRegistersVariablesMemoryStep) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  session("lldb");
}

// The SDK's debug profile (-O0 -g3): `breakpoint set -n` stops on the function's first
// statement (buggy.c:31; -Og put it on the `{` line, 29), `next` and `finish` as on a native
// -O0 program.
TEST_P(LiveLldb, DebugProfileBreakStopsOnTheFirstStatement) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 5");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = lldb_session("lldb", "buggy", hlrun.port(),
                                       {"breakpoint set -n add_sample", "continue", "next",
                                        "frame variable v", "finish", "continue"});
  EXPECT_CONTAINS(out, "Breakpoint 1: where = buggy.elf`add_sample + ");
  EXPECT_CONTAINS(out, " at buggy.c:31:");
  EXPECT_CONTAINS(out, "stop reason = breakpoint 1.1\n    frame #0: ");
  EXPECT_CONTAINS(out, "-> 31  \t  const int64_t v = hl_as_i64(args[0]);");
  EXPECT_CONTAINS(out, "stop reason = step over");
  EXPECT_CONTAINS(out, "-> 32  \t  if (g_stats.count > MAX_SAMPLES)");
  EXPECT_CONTAINS(out, "(const int64_t) v = 5\n");
  EXPECT_CONTAINS(out, "stop reason = step out\nReturn value: (hl_value) $0 = {");
  EXPECT_CONTAINS(out, "    i64 = 1\n");
  EXPECT_CONTAINS(out, "Process 1 exited with status = 0");
  EXPECT_CONTAINS(hlrun.finish(), "result: 1\n");
}

TEST_P(LiveLldb, NewerLldb) {
  const std::string lldb22 = testing::lldb22();
  if (lldb22.empty()) GTEST_SKIP() << lldb22_missing();
  session(lldb22);
}

HLRR_INSTANTIATE_FOR_BACKENDS(LiveLldb);

}  // namespace
}  // namespace hlrr::testing
