// Stop replies as gdb receives them, live (each backend) and on a replay: the shared debug
// layer (debug/) reports a hardware breakpoint as `hwbreak`, a software one as `swbreak`, and a
// replay divergence as a visible error stop with its one-line reason.
#include <sstream>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

// The stop replies (`T..`) gdb received, in order, from `set debug remote 1`'s log.
std::vector<std::string> stop_replies(const std::string& out) {
  std::vector<std::string> replies;
  std::istringstream in(out);
  std::string line;
  const std::string marker = "Packet received: T";
  while (std::getline(in, line)) {
    if (auto at = line.find(marker); at != std::string::npos) {
      replies.push_back(line.substr(at + marker.size() - 1));
    }
  }
  return replies;
}

// The pc a stop reply expedites (`10:` + 8 little-endian bytes), 0 if none.
uint64_t reply_pc(const std::string& reply) {
  const auto at = reply.find(";10:");
  if (at == std::string::npos || reply.size() < at + 20) return 0;
  uint64_t pc = 0;
  for (int i = 7; i >= 0; --i)
    pc = pc << 8 | std::stoul(reply.substr(at + 4 + 2 * i, 2), nullptr, 16);
  return pc;
}

// hbreak at greet, break at the hl_print line (hello.c:28): the first breakpoint stop is the
// hardware one, the second the software one (gdb steps over the first in between: a plain stop).
const std::vector<std::string> kBothBreakpoints = {
    "set debug remote 1", "hbreak greet",       "break hello.c:28",  "continue",
    "continue",           "set debug remote 0", "info registers rip"};

void expect_hw_then_sw(const std::string& out) {
  std::vector<std::string> breakpoint_stops;
  for (const std::string& reply : stop_replies(out)) {
    if (reply.find("break:;") != std::string::npos) breakpoint_stops.push_back(reply);
  }
  ASSERT_EQ(breakpoint_stops.size(), 2u) << out;
  const std::string& hw = breakpoint_stops[0];
  const std::string& sw = breakpoint_stops[1];
  EXPECT_NE(hw.find("hwbreak:;"), std::string::npos) << hw;
  EXPECT_EQ(reply_pc(hw), line_address("hello", "hello.c:20")) << hw;
  EXPECT_NE(sw.find("swbreak:;"), std::string::npos) << sw;
  EXPECT_EQ(reply_pc(sw), line_address("hello", "hello.c:28")) << sw;
  EXPECT_CONTAINS(out, "rip            " + hex_address(line_address("hello", "hello.c:28")) + " ");
}

class LiveStops : public GdbBackendTest {};

TEST_P(LiveStops, HbreakReportsHwbreakAndBreakReportsSwbreak) {
  DebuggedHlrun hlrun(backend(), "hello", "greet world");
  ASSERT_NE(hlrun.port(), 0);
  std::vector<std::string> commands = kBothBreakpoints;
  commands.push_back("kill");
  expect_hw_then_sw(gdb_session("hello", hlrun.port(), commands));
}

HLRR_INSTANTIATE_FOR_BACKENDS(LiveStops);

class ReplayStops : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  }
  TempDir dir_;
};

TEST_F(ReplayStops, HbreakReportsHwbreakAndBreakReportsSwbreak) {
  const std::string trace = dir_.path("hello.cap");
  ASSERT_TRUE(record_guest("hello", {{"greet", {vmm::Value{std::string("world")}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  expect_hw_then_sw(gdb_session("hello", server.port(), kBothBreakpoints));
}

// A recording whose exit 3 holds a wrong rbx: continuing reaches it, and gdb shows why replay
// stopped (the divergence's one line) and a signal, not a silent SIGKILL.
TEST_F(ReplayStops, ADivergenceIsAnErrorStopWithItsReason) {
  ASSERT_TRUE(record_guest("chatty", {{"chatter", {vmm::Value{int64_t{8}}}}}, dir_.path("a.cap")));
  uint64_t count_at_3 = 0;
  rewrite(dir_.path("a.cap"), dir_.path("b.cap"), [&](trace::Record& r) {
    if (auto* e = std::get_if<trace::Exit>(&r); e && e->sequence == 3) {
      e->registers.rbx ^= 0x40;
      count_at_3 = e->instruction_count;
    }
  });
  ASSERT_NE(count_at_3, 0u);
  ReplayServer server(dir_.path("b.cap"));
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("chatty", server.port(), {"continue", "monitor when", "continue"});
  const std::string reason = "replay diverged: exit 3 (port-out 0x6c00) at instruction " +
                             std::to_string(count_at_3) + ": rbx: ";
  EXPECT_CONTAINS(out, reason);
  EXPECT_CONTAINS(out, "(replayed != recorded)\n");
  EXPECT_CONTAINS(out, "Program received signal SIGABRT, Aborted.\n");
  EXPECT_EQ(out.find("SIGKILL"), std::string::npos) << out;
  // Replay stays where it diverged, and says so again on the next resume.
  EXPECT_CONTAINS(out, "after exit 2");
  const auto first = out.find(reason);
  EXPECT_NE(out.find(reason, first + 1), std::string::npos) << out;
}

}  // namespace
}  // namespace hlrr::testing
