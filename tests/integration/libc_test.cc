// Guests linked with musl (hl_add_guest(... LIBC ...), guest/runtime/libc): the C library's
// results equal the host's own, its system calls reach the host (print, time, randomness) or
// the guest's page allocator, everything else is ENOSYS, and a recording replays.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "tests/integration/guests.h"
#include "tests/support/subprocess.h"
#include "vmm/standard_host_functions.h"

namespace hlrr::testing {
namespace {

// SSE guests: the software vCPU (this workplace's KVM cannot execute SSE, VCPU-FACTS.md).
std::unique_ptr<vmm::Sandbox> libc_sandbox(std::string* out, uint64_t memory = 16 << 20) {
  vmm::SandboxConfig c;
  c.vcpu = vmm::VcpuKind::kUnicorn;
  c.memory_size = memory;
  c.timeout = std::chrono::minutes(1);
  vmm::add_standard_host_functions(c.host_functions);
  return make_sandbox("libc_demo", out, std::move(c));
}

std::string fault_text(vmm::Sandbox& s, std::string_view name, std::vector<vmm::Value> args) {
  auto r = s.call(name, args);
  if (r) return "no fault";
  return r.error().to_string();
}

TEST(LibcGuest, SnprintfMatchesTheHostsLibc) {
  std::string out;
  auto s = libc_sandbox(&out);
  ASSERT_TRUE(s);
  for (int64_t n : {0, 1, 100, -42, 123456789}) {
    char want[256];
    std::snprintf(want, sizeof want, "%ld|%08.3f|%x|%-5s|%e|%g", static_cast<long>(n),
                  static_cast<double>(n) / 7.0, static_cast<unsigned>(n), "ab",
                  static_cast<double>(n) * 1e10, std::sqrt(static_cast<double>(n)));
    EXPECT_EQ(std::get<std::string>(call_ok(*s, "format", {n})), want) << n;
  }
}

TEST(LibcGuest, StdoutAndStderrReachTheHostsPrintWithinTheCall) {
  std::string out;
  auto s = libc_sandbox(&out);
  ASSERT_TRUE(s);
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "say", {std::string("world")})), 14);
  // stderr's text has no newline: the runtime flushes it before the call returns.
  EXPECT_EQ(out, "Hello, world!\n(stderr 14)");
}

TEST(LibcGuest, MallocGivesMemoryBack) {
  std::string out;
  auto s = libc_sandbox(&out, 8 << 20);
  ASSERT_TRUE(s);
  // 40 rounds of 256 KiB + a 512 KiB realloc (mmap'd blocks): 30 MiB from 8 MiB of memory.
  const int64_t pages =
      std::get<int64_t>(call_ok(*s, "heap_churn", {int64_t{40}, int64_t{256} << 10}));
  EXPECT_GE(pages, 0) << "malloc failed in round " << -pages;
  EXPECT_LT(pages, 16) << "pages still in use after every block was freed";
  // Small blocks (mallocng's groups) too.
  const int64_t small = std::get<int64_t>(call_ok(*s, "heap_churn", {int64_t{400}, int64_t{3000}}));
  EXPECT_GE(small, 0) << "malloc failed in round " << -small;
  EXPECT_LT(small, 16);
  // A block larger than guest memory fails cleanly.
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "heap_churn", {int64_t{1}, int64_t{16} << 20})), -1);
}

TEST(LibcGuest, QsortStrtolSetjmpAndLibm) {
  std::string out;
  auto s = libc_sandbox(&out);
  ASSERT_TRUE(s);
  EXPECT_EQ(std::get<std::string>(call_ok(*s, "sort_numbers", {std::string("5 -3 0x10 7 010")})),
            "-3 5 7 8 16");
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "jump", {int64_t{5}})), 7);
  for (int64_t v : {0, 1234, -2500, 9999}) {
    const double x = static_cast<double>(v) / 1000.0;
    const auto want = static_cast<int64_t>(std::llround(
        1e6 * (std::sin(x) + std::exp(x / 10.0) + std::log1p(std::fabs(x)) + std::atan2(x, 3.0))));
    EXPECT_EQ(std::get<int64_t>(call_ok(*s, "libm", {v})), want) << v;
  }
}

TEST(LibcGuest, TimeAndRandomnessComeFromTheHost) {
  std::string out;
  auto s = libc_sandbox(&out);
  ASSERT_TRUE(s);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  EXPECT_NEAR(static_cast<double>(std::get<int64_t>(call_ok(*s, "realtime_s"))),
              static_cast<double>(now), 5.0);
  const int64_t t0 = std::get<int64_t>(call_ok(*s, "monotonic_ns"));
  const int64_t t1 = std::get<int64_t>(call_ok(*s, "monotonic_ns"));
  EXPECT_GT(t0, 0);
  EXPECT_GT(t1, t0);
  const int64_t r0 = std::get<int64_t>(call_ok(*s, "random_u63"));
  const int64_t r1 = std::get<int64_t>(call_ok(*s, "random_u63"));
  EXPECT_GE(r0, 0);
  EXPECT_NE(r0, r1);
}

TEST(LibcGuest, OtherSystemCallsFailWithEnosys) {
  std::string out;
  auto s = libc_sandbox(&out);
  ASSERT_TRUE(s);
  constexpr int64_t kEnosys = 38;
  // open, fork, socket, execve, mremap: not served.
  for (int64_t nr : {2, 57, 41, 59, 25}) {
    EXPECT_EQ(std::get<int64_t>(call_ok(*s, "raw_syscall", {nr})), -kEnosys) << "syscall " << nr;
  }
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "raw_syscall", {int64_t{39}})), 1);  // getpid
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "open_file", {std::string("/etc/passwd")})), kEnosys);
}

TEST(LibcGuest, ExitAndAbortEndTheCallWithAMessage) {
  std::string out;
  auto s = libc_sandbox(&out);
  ASSERT_TRUE(s);
  EXPECT_NE(fault_text(*s, "call_exit", {int64_t{3}}).find("exit(3)"), std::string::npos)
      << fault_text(*s, "call_exit", {int64_t{3}});
  EXPECT_NE(fault_text(*s, "call_abort", {}).find("abort: signal(6)"), std::string::npos)
      << fault_text(*s, "call_abort", {});
}

TEST(LibcGuest, ARecordingReplaysDeterministically) {
  char d[] = "/tmp/hlrr-libc-XXXXXX";
  const std::string dir = mkdtemp(d);
  const std::string trace = dir + "/run.cap";
  auto rec = run_process({tool_path("hlrun"),
                          guest_path("libc_demo"),
                          "--vcpu",
                          "unicorn",
                          "--mem",
                          "16M",
                          "--call",
                          "realtime_s",
                          "--call",
                          "random_u63",
                          "--call",
                          "monotonic_ns",
                          "--call",
                          "say",
                          "s:replay",
                          "--call",
                          "heap_churn",
                          "20",
                          "100000",
                          "--record",
                          trace});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  EXPECT_NE(rec.out.find("Hello, replay!\n"), std::string::npos) << rec.out;
  auto check = run_process({tool_path("hlreplay"), trace, "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("deterministic: "), std::string::npos) << check.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hlrr::testing
