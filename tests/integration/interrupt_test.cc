// A raw 0x03 over TCP stops a running live guest: the stop reply is SIGINT (T02), and its pc is
// in the loop the guest was spinning in. The resume ran on the server's target thread; the
// interrupt came through the event loop as a stop request with cause "interrupt".
#include <cstdio>
#include <thread>

#include "tests/integration/live_debug.h"
#include "tests/rsp/tcp_client.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

std::string framed(const std::string& payload) {
  unsigned sum = 0;
  for (char c : payload) sum += static_cast<unsigned char>(c);
  char checksum[3];
  std::snprintf(checksum, sizeof checksum, "%02x", sum & 0xff);
  return "$" + payload + "#" + checksum;
}

// The value of register `regno` (hex) in a T stop reply, in the target's byte order.
uint64_t register_in_stop_reply(const std::string& reply, const std::string& regno) {
  const auto at = reply.find(";" + regno + ":");
  if (at == std::string::npos) return 0;
  const std::string hex = reply.substr(at + regno.size() + 2, 16);
  uint64_t value = 0;
  for (int byte = 7; byte >= 0; --byte) {
    value = value << 8 | std::stoull(hex.substr(static_cast<size_t>(byte) * 2, 2), nullptr, 16);
  }
  return value;
}

using rsp::testing::TcpClient;

class Interrupt : public BackendTest {};

TEST_P(Interrupt, RawInterruptStopsARunningGuestInItsLoop) {
  DebuggedHlrun hlrun(std::string(vmm::to_string(GetParam())), "faults", "infinite_loop");
  ASSERT_NE(hlrun.port(), 0);
  TcpClient client(static_cast<uint16_t>(hlrun.port()));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send(framed("c")));
  EXPECT_EQ(client.read(1), "+");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into the endless loop
  ASSERT_TRUE(client.send("\x03"));
  const std::string reply = client.read_packet();
  ASSERT_EQ(reply.substr(0, 4), "$T02") << reply;
  auto image = vmm::ElfImage::read_file(guest_path("faults"));
  ASSERT_TRUE(image);
  const uint64_t pc = register_in_stop_reply(reply, "10");
  const auto* function = image->symbols().find_containing(pc);
  ASSERT_NE(function, nullptr) << reply;
  EXPECT_EQ(function->name, "infinite_loop") << reply;
  // Interrupted again after a second continue: a stop request of the first resume is stale.
  ASSERT_TRUE(client.send("+" + framed("c")));
  EXPECT_EQ(client.read(1), "+");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(client.send("\x03"));
  EXPECT_EQ(client.read_packet().substr(0, 4), "$T02");
  ASSERT_TRUE(client.send("+" + framed("k")));
  client.read(1);
  EXPECT_CONTAINS(hlrun.finish(), "hlrun: killed by the debugger\n");
  EXPECT_EQ(hlrun.exit_code(), 1);
}

HLRR_INSTANTIATE_FOR_BACKENDS(Interrupt);

}  // namespace
}  // namespace hlrr::testing
