// Where hlrun -g and hlreplay -g listen: loopback of both families by default, so that lldb and
// gdb connect on an installed Debian or Ubuntu, whose /etc/hosts maps localhost to ::1 as well.
// The tests don't depend on this machine's /etc/hosts: they run the debugger in a private mount
// namespace (unshare -m, root only) over a hosts file of their own.
#include <fstream>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"
#include "tests/rsp/tcp_client.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

// A stock Debian 12 /etc/hosts: localhost resolves to ::1 first.
constexpr const char* kDebianHosts =
    "::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\tlocalhost\n";

class Listen : public ::testing::Test {
 protected:
  // `command` run in a mount namespace where /etc/hosts is kDebianHosts.
  std::string with_debian_hosts(const std::string& command) {
    const std::string hosts = dir_.path("hosts");
    std::ofstream(hosts) << kDebianHosts;
    return shell("unshare -m sh -c 'mount --bind " + hosts + " /etc/hosts && " + command + "'");
  }
  // Skips unless unshare and bind mounts work here (they need root) and lldb is installed.
  void require_private_hosts_and_lldb() {
    if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
    const std::string resolved = with_debian_hosts("getent ahosts localhost | head -n 1");
    if (resolved.find("::1") != 0) {
      GTEST_SKIP() << "cannot give lldb a private /etc/hosts (unshare -m and mount --bind need "
                      "root): "
                   << resolved;
    }
  }
  TempDir dir_;
};

// lldb's `gdb-remote localhost:PORT` (and `gdb-remote PORT`) tries ::1 first.
TEST_F(Listen, LldbConnectsToHlrunWhereLocalhostIsIpv6First) {
  require_private_hosts_and_lldb();
  DebuggedHlrun hlrun("unicorn", "hello", "greet world");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = with_debian_hosts(
      "timeout 60 lldb -b " + guest_path("hello") +
      " -o \"gdb-remote localhost:" + std::to_string(hlrun.port()) +
      "\" -o \"breakpoint set -n greet\" -o continue -o \"frame variable argc\" -o kill");
  EXPECT_CONTAINS(out, "stop reason = breakpoint 1.1");
  EXPECT_CONTAINS(out, "(uint32_t) argc = 1");
  EXPECT_CONTAINS(hlrun.finish(), "hlrun: killed by the debugger\n");
  EXPECT_EQ(hlrun.exit_code(), 1);
}

TEST_F(Listen, LldbConnectsToHlreplayWhereLocalhostIsIpv6First) {
  require_private_hosts_and_lldb();
  const std::string trace = dir_.path("hello.cap");
  ASSERT_TRUE(record_guest("hello", {{"greet", {vmm::Value{std::string("world")}}}}, trace));
  BackgroundServer hlreplay("timeout 120 " + tool_path("hlreplay") + " " + trace + " -g 0");
  ASSERT_NE(hlreplay.port(), 0);
  const std::string out = with_debian_hosts(
      "timeout 60 lldb -b " + guest_path("hello") + " -o \"gdb-remote " +
      std::to_string(hlreplay.port()) +
      "\" -o \"breakpoint set -f hello.c -l 29\" -o continue -o \"frame variable len\" -o kill");
  EXPECT_CONTAINS(out, "stop reason = breakpoint 1.1");
  EXPECT_CONTAINS(out, "(const int) len = 14");
}

// --listen ADDR:PORT keeps to that one address: a client on ::1 is refused.
TEST_F(Listen, ListenOnOneAddressRefusesTheOtherFamily) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  DebuggedHlrun hlrun("unicorn", "hello", "greet world", "--listen 127.0.0.1:0");
  ASSERT_NE(hlrun.port(), 0);
  const auto port = static_cast<uint16_t>(hlrun.port());
  rsp::testing::TcpClient v6(port, std::chrono::seconds(10),
                             rsp::testing::TcpClient::Family::kIpv6);
  EXPECT_FALSE(v6.connected());
  v6.close();
  const std::string out =
      shell("timeout 60 gdb -batch -nx -ex 'target remote 127.0.0.1:" + std::to_string(port) +
            "' -ex 'print $rip' -ex kill " + guest_path("hello"));
  auto image = vmm::ElfImage::read_file(guest_path("hello"));
  ASSERT_TRUE(image.has_value());
  EXPECT_CONTAINS(out, "(void (*)()) " + hex_address(image->entry()));
  EXPECT_CONTAINS(hlrun.finish(), "hlrun: killed by the debugger\n");
  EXPECT_EQ(hlrun.exit_code(), 1);
}

// Where the machine has no IPv6, -g listens on 127.0.0.1 alone, without an error: hlrun in a
// network namespace of its own (unshare -n, root only) whose loopback has IPv6 disabled.
TEST_F(Listen, WithoutIpv6HlrunListensOn127001Alone) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  if (!have_tool("ip")) GTEST_SKIP() << "ip (iproute2) is not installed";
  const std::string log = dir_.path("hlrun.log");
  const std::string script = dir_.path("no-ipv6.sh");
  std::ofstream(script)
      << "ip link set lo up && echo 1 >/proc/sys/net/ipv6/conf/lo/disable_ipv6 || exit 77\n"
      << "timeout 60 " << tool_path("hlrun") << " -g 0 --vcpu unicorn " << guest_path("hello")
      << " --call greet world >" << log << " 2>&1 &\n"
      << "for i in $(seq 100); do grep -q waiting " << log << " && break; sleep 0.1; done\n"
      << "port=$(sed -n 's/.*127[.]0[.]0[.]1:\\([0-9]*\\).*/\\1/p' " << log << " | head -n 1)\n"
      << "timeout 60 gdb -batch -nx -ex \"target remote 127.0.0.1:$port\" -ex 'print $rip' -ex "
         "kill "
      << guest_path("hello") << "\n"
      << "wait\ncat " << log << "\n";
  const ProcessResult run = run_process({"unshare", "-n", "sh", script});
  if (run.exit_code == 77 || run.exit_code == 1) {
    GTEST_SKIP() << "cannot make a network namespace without IPv6 (unshare -n needs root): "
                 << run.out << run.err;
  }
  auto image = vmm::ElfImage::read_file(guest_path("hello"));
  ASSERT_TRUE(image.has_value());
  EXPECT_CONTAINS(run.out, "(void (*)()) " + hex_address(image->entry()));
  EXPECT_CONTAINS(run.out, "waiting for a debugger on 127.0.0.1:");
  EXPECT_EQ(run.out.find("::1"), std::string::npos) << run.out;
  EXPECT_CONTAINS(run.out, "hlrun: killed by the debugger\n");
}

}  // namespace
}  // namespace hlrr::testing
