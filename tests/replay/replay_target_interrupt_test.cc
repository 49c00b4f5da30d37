// Interrupts reach a reverse step under the debug server (rsp::Server + ReplayTarget): a 0x03
// during a `bs` that replays a long way (no checkpoint near) stops it soon with SIGINT, and the
// replay keeps answering (`g`, `s`). Reverse-continue's interval scans: replay_interrupt_test.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "replay/replay_target.h"
#include "replay/timeline.h"
#include "replay_test_util.h"
#include "rsp/packet_codec.h"
#include "rsp/server.h"
#include "tests/rsp/tcp_client.h"

namespace hlrr::replay {
namespace {

using Clock = std::chrono::steady_clock;

std::string frame(std::string_view payload) {
  std::string out;
  rsp::append_packet(out, payload);
  return out;
}

std::string payload(const std::string& packet) {
  const auto start = packet.find('$');
  const auto hash = packet.rfind('#');
  if (start == std::string::npos || hash == std::string::npos || hash < start) return packet;
  return packet.substr(start + 1, hash - start - 1);
}

TEST(ReplayTargetInterrupt, AnInterruptStopsALongReverseStepAndTheReplayStillAnswers) {
  testing::TempDir dir;
  const std::string path = dir.path("compute.cap");
  ASSERT_TRUE(testing::record_guest(
      "compute", {{"sort_hash", {vmm::Value{int64_t{40000}}, vmm::Value{int64_t{1}}}}}, path));
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session);
  // No checkpoint but the start, none taken on the way (rolling ones neither): a step back from
  // the end replays the whole recording.
  Timeline timeline(**session, {.interval = 1ull << 40, .rolling = 1ull << 40});
  ReplayTarget target(timeline);
  auto server = rsp::Server::create(target, {});
  ASSERT_TRUE(server) << server.error().message;
  std::thread serving([&] { (void)(*server)->run(); });

  rsp::testing::TcpClient client((*server)->port(), std::chrono::seconds(60));
  ASSERT_TRUE(client.connected());
  const auto ask = [&](std::string_view request) {
    client.send(frame(request));
    return payload(client.read_packet());
  };
  ask("QStartNoAckMode");
  // The whole forward replay, for scale: what the step back would cost.
  const auto began = Clock::now();
  EXPECT_NE(ask("c").find("replaylog:end"), std::string::npos);
  const auto plain = Clock::now() - began;
  const std::string end_registers = ask("g");
  ASSERT_GT(end_registers.size(), 16u * 17) << end_registers;

  client.send(frame("bs"));
  std::this_thread::sleep_for(plain / 4);
  const auto sent = Clock::now();
  client.send("\x03");
  const std::string stop = payload(client.read_packet());
  const auto took = Clock::now() - sent;
  EXPECT_TRUE(stop.starts_with("T02")) << stop;
  EXPECT_LT(took, plain / 4 + std::chrono::milliseconds(100))
      << "the forward replay took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(plain).count() << " ms, the stop "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  // Still answering, where the interrupt found the replay: its registers, then a step forward.
  const std::string registers = ask("g");
  EXPECT_EQ(registers.size(), end_registers.size()) << registers;
  EXPECT_NE(registers, end_registers);
  EXPECT_TRUE(ask("s").starts_with("T05"));
  EXPECT_NE(ask("g"), registers);
  (*server)->stop();
  serving.join();
}

}  // namespace
}  // namespace hlrr::replay
