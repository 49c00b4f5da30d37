// End to end: real gdb and lldb against FakeTarget served by hlrr_rsp_fake_target_server.
// Every command runs under `timeout`, so a hang fails the test instead of blocking it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace {

using hlrr::testing::have_tool;
using hlrr::testing::shell;

// The fake target server in the background: started in the constructor, reaped (with its
// final output) by finish().
class FakeServer {
 public:
  explicit FakeServer(const std::string& args) {
    pipe_ = ::popen(("timeout 60 " HLRR_RSP_FAKE_SERVER " " + args).c_str(), "r");
    char line[64] = {};
    if (pipe_ != nullptr && std::fgets(line, sizeof line, pipe_) != nullptr) {
      std::sscanf(line, "port %d", &port_);
    }
  }
  ~FakeServer() { finish(); }
  int port() const { return port_; }
  // Waits for the server to end; returns what it printed after the port line.
  std::string finish() {
    if (pipe_ == nullptr) return rest_;
    char buf[256];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe_)) > 0) rest_.append(buf, n);
    ::pclose(pipe_);
    pipe_ = nullptr;
    return rest_;
  }

 private:
  FILE* pipe_ = nullptr;
  int port_ = 0;
  std::string rest_;
};

std::string gdb(int port, const std::vector<std::string>& commands) {
  std::string command =
      "timeout 60 gdb -batch -nx -ex 'set architecture i386:x86-64' -ex "
      "'target remote :" +
      std::to_string(port) + "'";
  for (const std::string& c : commands) command += " -ex '" + c + "'";
  return shell(command);
}

std::string lldb(const std::string& lldb_binary, int port,
                 const std::vector<std::string>& commands) {
  std::string command =
      "timeout 60 " + lldb_binary + " -b -o 'gdb-remote " + std::to_string(port) + "'";
  for (const std::string& c : commands) command += " -o '" + c + "'";
  return shell(command);
}

#define EXPECT_CONTAINS(haystack, needle)                                                       \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "missing: " << (needle) << "\nin:\n" \
                                                        << (haystack)

TEST(Gdb, RegistersMemoryStepMonitorWatchKill) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  FakeServer server("");
  ASSERT_NE(server.port(), 0);
  std::string out = gdb(server.port(), {"info registers rip",
                                        "x/4xb 0x1000",
                                        "stepi",
                                        "info registers rip",
                                        "set {char}0x1000=5",
                                        "x/1xb 0x1000",
                                        "info registers eflags",
                                        "p $rax",
                                        "p $xmm0.v4_int32",
                                        "p/x $mxcsr",
                                        "p/x $fctrl",
                                        "monitor help",
                                        "monitor where",
                                        "break *0x1003",
                                        "continue",
                                        "info registers rip",
                                        "watch *(int*)0x4000",
                                        "continue",
                                        "info registers rip",
                                        "kill"});
  EXPECT_CONTAINS(out, "rip            0x1000              0x1000\n");
  EXPECT_CONTAINS(out, "0x1000:\t0x00\t0x07\t0x0e\t0x15\n");
  EXPECT_CONTAINS(out, "rip            0x1001              0x1001\n");
  EXPECT_CONTAINS(out, "0x1000:\t0x05\n");
  EXPECT_CONTAINS(out, "eflags         0x202               [ IF ]\n");
  EXPECT_CONTAINS(out, "$1 = 1234605616436508553\n");  // 0x1122334455667788 + 1 step
  EXPECT_CONTAINS(out, "$2 = {0, 0, 0, 0}\n");
  EXPECT_CONTAINS(out, "$3 = 0x1f80\n");
  EXPECT_CONTAINS(out, "$4 = 0x37f\n");
  EXPECT_CONTAINS(out,
                  "help -- list monitor commands\nwhere -- print the instruction pointer\n"
                  "echo -- print the arguments\n");
  EXPECT_CONTAINS(out, "rip=0x1001\n");
  EXPECT_CONTAINS(out, "Breakpoint 1, 0x0000000000001003 in ?? ()\n");
  EXPECT_CONTAINS(out, "rip            0x1003              0x1003\n");
  EXPECT_CONTAINS(out, "Hardware watchpoint 2: *(int*)0x4000\n\nOld value = ");
  // The fake's instruction at 0x1004 writes its rip's low byte (4) to 0x4000.
  EXPECT_CONTAINS(out, "rip            0x1005              0x1005\n");
  EXPECT_CONTAINS(out, "[Inferior 1 (process 1) killed]");
  EXPECT_CONTAINS(server.finish(), "end target-finished");
}

TEST(Gdb, ReverseExecution) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  FakeServer server("--reverse");
  ASSERT_NE(server.port(), 0);
  std::string out = gdb(server.port(), {"stepi", "stepi", "stepi", "info registers rip",
                                        "reverse-stepi", "info registers rip", "break *0x1001",
                                        "reverse-continue", "info registers rip", "delete",
                                        "reverse-continue", "info registers rip", "kill"});
  EXPECT_CONTAINS(out, "rip            0x1003              0x1003\n");
  EXPECT_CONTAINS(out, "rip            0x1002              0x1002\n");
  EXPECT_CONTAINS(out, "Breakpoint 1, 0x0000000000001001 in ?? ()\n");
  EXPECT_CONTAINS(out, "rip            0x1001              0x1001\n");
  EXPECT_CONTAINS(out, "No more reverse-execution history.\n");
  EXPECT_CONTAINS(out, "rip            0x1000              0x1000\n");
  EXPECT_CONTAINS(server.finish(), "end target-finished");
}

TEST(Gdb, InterruptARunningTarget) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  FakeServer server("--run-forever");
  ASSERT_NE(server.port(), 0);
  // Ctrl-C as a user gives it: SIGINT to gdb while it waits in `continue`, which makes gdb
  // send 0x03. (`set -m` so that the background gdb does not ignore SIGINT.)
  std::string port = std::to_string(server.port());
  std::string out =
      shell("timeout 60 bash -c \"set -m; gdb -batch -nx -ex 'target remote :" + port +
            "' -ex continue -ex 'info registers rip' -ex kill & p=\\$!; sleep 2; "
            "kill -INT \\$p; wait \\$p\"");
  EXPECT_CONTAINS(out, "Program received signal SIGINT, Interrupt.");
  EXPECT_CONTAINS(out, "[Inferior 1 (process 1) killed]");
  EXPECT_EQ(out.find("rip            0x1000 "), std::string::npos) << out;  // it ran
  EXPECT_CONTAINS(server.finish(), "end target-finished");
}

TEST(Gdb, ExitIsReported) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  FakeServer server("");
  ASSERT_NE(server.port(), 0);
  std::string out = gdb(server.port(), {"continue"});
  EXPECT_CONTAINS(out, "[Inferior 1 (process 1) exited normally]");
  EXPECT_CONTAINS(server.finish(), "end target-finished");
}

TEST(Gdb, FetchesTheExecFileOverVFile) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  FakeServer server("--exec=/hlrr-no-such-dir/guest.elf");
  ASSERT_NE(server.port(), 0);
  std::string out = gdb(server.port(), {"info inferiors", "kill"});
  EXPECT_CONTAINS(out, "Reading /hlrr-no-such-dir/guest.elf from remote target...");
  EXPECT_CONTAINS(out, "Reading symbols from target:/hlrr-no-such-dir/guest.elf...");
  EXPECT_CONTAINS(out, "target:/hlrr-no-such-dir/guest.elf");
  EXPECT_CONTAINS(server.finish(), "end target-finished");
}

void lldb_session(const std::string& binary) {
  FakeServer server("");
  ASSERT_NE(server.port(), 0);
  std::string out =
      lldb(binary, server.port(),
           {"register read rip", "memory read -s1 -c4 -fx 0x1000", "register read eflags",
            "register read fs_base", "si", "register read rip", "memory write 0x1000 0x05",
            "memory read -s1 -c1 -fx 0x1000", "process plugin packet monitor help",
            "breakpoint set -a 0x1003", "continue", "register read rip", "kill"});
  EXPECT_CONTAINS(out, "rip = 0x0000000000001000\n");
  EXPECT_CONTAINS(out, "0x00001000: 0x00 0x07 0x0e 0x15\n");
  EXPECT_CONTAINS(out, "eflags = 0x00000202\n");
  EXPECT_CONTAINS(out, "fs_base = 0x0000000000000000\n");
  EXPECT_CONTAINS(out, "rip = 0x0000000000001001\n");
  EXPECT_CONTAINS(out, "0x00001000: 0x05\n");
  EXPECT_CONTAINS(out, "where -- print the instruction pointer\n");
  EXPECT_CONTAINS(out, "rip = 0x0000000000001003\n");
  EXPECT_CONTAINS(out, "exited with status = 9");
  EXPECT_CONTAINS(server.finish(), "end target-finished");
}

void lldb_watch_session(const std::string& binary) {
  FakeServer server("");
  ASSERT_NE(server.port(), 0);
  std::string out = lldb(binary, server.port(),
                         {"watchpoint set expression -w write -s 4 -- 0x4000", "continue",
                          "register read rip", "register read mxcsr", "detach"});
  EXPECT_CONTAINS(out, "Watchpoint created: Watchpoint 1: addr = 0x00004000 size = 4");
  EXPECT_CONTAINS(out, "stop reason = watchpoint 1");
  EXPECT_CONTAINS(out, "rip = 0x0000000000001005\n");
  EXPECT_CONTAINS(out, "mxcsr = 0x00001f80\n");
  EXPECT_CONTAINS(out, "Process 1 detached");
  EXPECT_CONTAINS(server.finish(), "end target-finished");
}

TEST(Lldb, RegistersMemoryStepMonitorBreakpointKill) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  lldb_session("lldb");
}

TEST(Lldb, WatchpointAndDetach) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  lldb_watch_session("lldb");
}

TEST(Lldb, NewerLldb) {
  const std::string lldb22 = hlrr::testing::lldb22();
  if (lldb22.empty()) GTEST_SKIP() << hlrr::testing::lldb22_missing();
  lldb_session(lldb22);
  lldb_watch_session(lldb22);
}

}  // namespace
