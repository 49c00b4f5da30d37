// A long reverse-continue on `hlreplay -g` is interrupted by a raw 0x03 as a live run is: the
// stop reply is SIGINT and the replay is back where the reverse-continue started.
#include <chrono>
#include <cstdio>
#include <thread>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"
#include "tests/rsp/tcp_client.h"

namespace hlrr::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string frame(const std::string& payload) {
  unsigned sum = 0;
  for (unsigned char c : payload) sum += c;
  char tail[4];
  std::snprintf(tail, sizeof tail, "#%02x", sum & 0xff);
  return "$" + payload + tail;
}

// The packet's payload, without acks, `$` and checksum.
std::string payload(const std::string& packet) {
  const auto start = packet.find('$');
  const auto hash = packet.rfind('#');
  if (start == std::string::npos || hash == std::string::npos || hash < start) return packet;
  return packet.substr(start + 1, hash - start - 1);
}

class Rsp {
 public:
  explicit Rsp(int port) : client_(static_cast<uint16_t>(port), std::chrono::seconds(60)) {}
  bool connected() const { return client_.connected(); }
  std::string ask(const std::string& request) {
    client_.send(frame(request));
    return read();
  }
  void send_raw(const std::string& bytes) { client_.send(bytes); }
  std::string read() {
    const std::string reply = payload(client_.read_packet());
    if (acks_) client_.send("+");
    return reply;
  }
  void no_acks() {
    ask("QStartNoAckMode");
    acks_ = false;
  }

 private:
  rsp::testing::TcpClient client_;
  bool acks_ = true;
};

TEST(ReplayInterrupt, RawInterruptStopsALongReverseContinueWithSigint) {
  TempDir dir;
  const std::string trace = dir.path("compute.cap");
  ASSERT_TRUE(record_guest(
      "compute", {{"sort_hash", {vmm::Value{int64_t{60000}}, vmm::Value{int64_t{1}}}}}, trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  Rsp rsp(server.port());
  ASSERT_TRUE(rsp.connected());
  rsp.no_acks();
  // Forward to the end of the recording.
  EXPECT_NE(rsp.ask("c").find("replaylog:end"), std::string::npos);
  const std::string end_pc = rsp.ask("p10");
  ASSERT_EQ(end_pc.size(), 16u) << end_pc;
  // A read watchpoint on the TSS (nothing reads it): reverse-continue must replay every
  // instruction of ~24M with a hook, for seconds.
  ASSERT_EQ(rsp.ask("Z3,9000,8"), "OK");
  rsp.send_raw(frame("bc"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto sent = Clock::now();
  rsp.send_raw("\x03");
  const std::string stop = rsp.read();
  const auto took = Clock::now() - sent;
  EXPECT_TRUE(stop.starts_with("T02")) << stop;
  EXPECT_EQ(rsp.ask("p10"), end_pc);
  EXPECT_LT(took, std::chrono::seconds(3));
  // Still serving: one reverse step from there, then the watchpoint removed.
  ASSERT_EQ(rsp.ask("z3,9000,8"), "OK");
  EXPECT_TRUE(rsp.ask("bs").starts_with("T05"));
  EXPECT_NE(rsp.ask("p10"), "");
  rsp.send_raw(frame("k"));
  server.finish();
}

}  // namespace
}  // namespace hlrr::testing
