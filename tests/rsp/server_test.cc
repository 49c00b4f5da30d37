// Robustness of the TCP server: real sockets against an in-process Server and FakeTarget.
#include "rsp/server.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "rsp/packet_codec.h"
#include "tests/rsp/fake_target.h"
#include "tests/rsp/tcp_client.h"

namespace hlrr::rsp {
namespace {

using testing::FakeTarget;
using testing::TcpClient;

// Whether this machine can listen on ::1 (not where IPv6 is disabled).
bool ipv6_loopback_usable() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string frame(std::string_view payload) {
  std::string out;
  append_packet(out, payload);
  return out;
}

constexpr std::string_view kReadMemory = "$m1000,4#8e";
constexpr std::string_view kReadMemoryReply = "+$00070e15#c2";

class ServerTest : public ::testing::Test {
 protected:
  void start() {
    auto server = Server::create(target_, {});
    ASSERT_TRUE(server.has_value()) << server.error().message;
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
    result_ = std::async(std::launch::async, [this] { return server_->run(); });
  }
  // Stops the server (if still running) and returns how run() ended.
  Server::End finish() {
    server_->stop();
    EXPECT_EQ(result_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    auto end = result_.get();
    EXPECT_TRUE(end.has_value());
    return *end;
  }
  void TearDown() override {
    if (result_.valid()) finish();
  }

  FakeTarget target_;
  // The server answers a memory read on this connection: it is (still) serving.
  static void expect_serves(TcpClient& client) {
    ASSERT_TRUE(client.send(kReadMemory));
    EXPECT_EQ(client.read(kReadMemoryReply.size()), kReadMemoryReply);
  }

  std::unique_ptr<Server> server_;
  std::future<base::Expected<Server::End>> result_;
};

TEST_F(ServerTest, ServesAPacket) {
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.connected());
  expect_serves(client);
}

TEST_F(ServerTest, BadChecksumIsNackedAndAGoodResendWorks) {
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send("$m1000,4#00"));
  EXPECT_EQ(client.read(1), "-");
  expect_serves(client);
}

TEST_F(ServerTest, GarbageBytesAreIgnored) {
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send(std::string("\xff\xfe garbage \r\n#00", 17)));
  expect_serves(client);
}

TEST_F(ServerTest, OversizePacketIsRefusedAndServingGoesOn) {
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send(frame("X1000,8000:" + std::string(0x8000, 'a'))));
  EXPECT_EQ(client.read(8), "+$E07#ac");
  expect_serves(client);
}

TEST_F(ServerTest, TruncatedPacketThenDisconnectLeavesTheServerAccepting) {
  start();
  {
    TcpClient first(server_->port());
    ASSERT_TRUE(first.send("$m1000,"));
  }
  TcpClient second(server_->port());
  ASSERT_TRUE(second.connected());
  expect_serves(second);
}

TEST_F(ServerTest, SecondClientIsRefusedWhileTheFirstKeepsWorking) {
  start();
  TcpClient first(server_->port());
  expect_serves(first);
  TcpClient second(server_->port());
  ASSERT_TRUE(second.connected());
  EXPECT_EQ(second.read(7), "$E01#a6");
  EXPECT_TRUE(second.at_eof());
  ASSERT_TRUE(first.send("$p10#d1"));
  EXPECT_EQ(first.read_packet(), "+" + frame("0010000000000000"));
}

TEST_F(ServerTest, InterruptStopsARunningTarget) {
  target_.exit_at.reset();
  target_.step_delay = std::chrono::microseconds(100);
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send("$c#63"));
  EXPECT_EQ(client.read(1), "+");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(client.send("\x03"));
  std::string stop = client.read_packet();
  EXPECT_TRUE(stop.starts_with("$T02")) << stop;
  EXPECT_NE(stop.find("thread:01;"), std::string::npos) << stop;
  // The target is stopped and serves requests again.
  ASSERT_TRUE(client.send("+" + std::string(kReadMemory)));
  EXPECT_EQ(client.read(kReadMemoryReply.size()), kReadMemoryReply);
}

TEST_F(ServerTest, InterruptRightAfterACutOffPacketStopsTheTarget) {
  target_.exit_at.reset();
  target_.step_delay = std::chrono::microseconds(100);
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send("$c#63"));
  EXPECT_EQ(client.read(1), "+");
  // A packet cut off where its checksum starts, then 0x03: the interrupt must not be taken
  // for a checksum digit.
  ASSERT_TRUE(client.send("$m1000,4#"));
  ASSERT_TRUE(client.send("\x03"));
  std::string stop = client.read_packet();
  EXPECT_TRUE(stop.starts_with("$T02")) << stop;
  ASSERT_TRUE(client.send("+" + std::string(kReadMemory)));
  EXPECT_EQ(client.read(kReadMemoryReply.size()), kReadMemoryReply);
}

// A client that sends many large reads and never reads the replies must not make the server
// queue them all: it stops reading that client until the replies drain, and loses none.
TEST_F(ServerTest, ClientThatDoesNotReadRepliesIsNotReadEither) {
  start();
  constexpr int kRequests = 4000;
  constexpr std::size_t kReplyHex = 2 * 0x1ff0;  // m is capped at 0x1ff0 bytes
  TcpClient client(server_->port(), std::chrono::seconds(10), TcpClient::Family::kIpv4,
                   /*receive_buffer=*/64 << 10);
  const std::string request = frame("m0,1ff0");
  std::string requests;
  for (int i = 0; i < kRequests; ++i) requests += request;
  ASSERT_TRUE(client.send(requests));  // ~50 KB: fits the kernel's buffers
  // Wait until the server stops making progress.
  uint64_t reads = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t now = target_.memory_reads.load();
    if (now == reads) break;
    reads = now;
  }
  // Unbounded, it answers all 4000 (64 MiB queued); bounded, what fits the queue and the
  // kernel's socket buffers (a few MiB: a few hundred replies).
  EXPECT_LT(reads, 1500u);
  // Reading the replies lets it go on: every one arrives, intact.
  std::string expected;
  for (std::size_t i = 0; i < kReplyHex / 2; ++i) {
    const uint8_t byte = static_cast<uint8_t>(i * 7);
    expected += "0123456789abcdef"[byte >> 4];
    expected += "0123456789abcdef"[byte & 0xf];
  }
  const std::string expected_reply = "+" + frame(expected);
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(client.read(expected_reply.size()) == expected_reply) << "reply " << i;
  }
  EXPECT_EQ(target_.memory_reads.load(), uint64_t{kRequests});
  expect_serves(client);
}

TEST_F(ServerTest, DisconnectWhileRunningStopsTheTargetAndAcceptsAgain) {
  target_.exit_at.reset();
  target_.step_delay = std::chrono::microseconds(100);
  start();
  {
    TcpClient first(server_->port());
    ASSERT_TRUE(first.send("$c#63"));
    EXPECT_EQ(first.read(1), "+");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  TcpClient second(server_->port());
  ASSERT_TRUE(second.send("$p10#d1"));
  std::string reply = second.read_packet();
  ASSERT_EQ(reply.size(), 1 + 1 + 16 + 3) << reply;
  // rip moved on while running, then stopped.
  EXPECT_NE(reply.substr(2, 16), "0010000000000000");
  ASSERT_TRUE(second.send("+$p10#d1"));
  EXPECT_EQ(second.read_packet(), reply);
}

TEST_F(ServerTest, RunEndsWhenTheTargetIsKilled) {
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send("$vKill;1#6e"));
  EXPECT_EQ(client.read_packet(), "+$OK#9a");
  EXPECT_TRUE(client.at_eof());
  ASSERT_EQ(result_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto end = result_.get();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, Server::End::kTargetFinished);
  EXPECT_TRUE(target_.killed);
}

TEST_F(ServerTest, RunEndsWhenTheGuestExits) {
  target_.exit_code = 7;
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send("$c#63"));
  EXPECT_EQ(client.read_packet(), "+$W07#be");
  ASSERT_EQ(result_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(*result_.get(), Server::End::kTargetFinished);
}

TEST_F(ServerTest, StopFromAnotherThreadInterruptsARunningTarget) {
  target_.exit_at.reset();
  target_.step_delay = std::chrono::microseconds(100);
  start();
  TcpClient client(server_->port());
  ASSERT_TRUE(client.send("$c#63"));
  EXPECT_EQ(client.read(1), "+");
  EXPECT_EQ(finish(), Server::End::kStopped);
  EXPECT_TRUE(client.at_eof());
}

TEST_F(ServerTest, StopBeforeRun) {
  auto server = Server::create(target_, {});
  ASSERT_TRUE(server.has_value());
  (*server)->stop();
  auto end = (*server)->run();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, Server::End::kStopped);
}

// lldb and gdb try ::1 first where /etc/hosts maps localhost to it (an installed Debian or
// Ubuntu): by default the server listens on loopback of both families, on one port.
TEST_F(ServerTest, ListensOnBothLoopbacksOnOnePort) {
  if (!ipv6_loopback_usable()) GTEST_SKIP() << "this machine has no ::1 (IPv6 disabled)";
  start();
  EXPECT_EQ(server_->endpoints(),
            (std::vector<std::string>{"127.0.0.1:" + std::to_string(server_->port()),
                                      "[::1]:" + std::to_string(server_->port())}));
  {
    TcpClient v6(server_->port(), std::chrono::seconds(10), TcpClient::Family::kIpv6);
    ASSERT_TRUE(v6.connected());
    expect_serves(v6);
  }
  TcpClient v4(server_->port());
  ASSERT_TRUE(v4.connected());
  expect_serves(v4);
}

// One address given: only that one. A client on the other family is refused.
TEST_F(ServerTest, OneAddressListensOnThatAddressOnly) {
  if (!ipv6_loopback_usable()) GTEST_SKIP() << "this machine has no ::1 (IPv6 disabled)";
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    ServerOptions options;
    options.address = address;
    auto server = Server::create(target_, options);
    ASSERT_TRUE(server.has_value()) << server.error().message;
    const bool v4 = std::string_view(address) == "127.0.0.1";
    const std::string port = std::to_string((*server)->port());
    EXPECT_EQ((*server)->endpoints(),
              std::vector<std::string>{v4 ? "127.0.0.1:" + port : "[::1]:" + port});
    TcpClient other((*server)->port(), std::chrono::seconds(10),
                    v4 ? TcpClient::Family::kIpv6 : TcpClient::Family::kIpv4);
    EXPECT_FALSE(other.connected());
    TcpClient same((*server)->port(), std::chrono::seconds(10),
                   v4 ? TcpClient::Family::kIpv4 : TcpClient::Family::kIpv6);
    EXPECT_TRUE(same.connected());
  }
}

// A fixed port taken on either family is an error, not a half-listening server.
TEST_F(ServerTest, FixedPortTakenOnIpv6OnlyFailsWithAMessage) {
  if (!ipv6_loopback_usable()) GTEST_SKIP() << "this machine has no ::1 (IPv6 disabled)";
  ServerOptions v6;
  v6.address = "::1";
  auto first = Server::create(target_, v6);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ServerOptions both;
  both.port = (*first)->port();
  auto second = Server::create(target_, both);
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("cannot listen on [::1]:" + std::to_string(both.port)),
            std::string::npos)
      << second.error().message;
}

TEST_F(ServerTest, BadAddressAndBusyPortFailWithAMessage) {
  ServerOptions bad;
  bad.address = "not-an-address";
  auto server = Server::create(target_, bad);
  ASSERT_FALSE(server.has_value());
  EXPECT_NE(server.error().message.find("bad listen address 'not-an-address'"), std::string::npos);

  auto first = Server::create(target_, {});
  ASSERT_TRUE(first.has_value());
  ServerOptions same;
  same.port = (*first)->port();
  auto second = Server::create(target_, same);
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos)
      << second.error().message;
}

}  // namespace
}  // namespace hlrr::rsp
