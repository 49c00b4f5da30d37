// Helpers for the live-debugging tests: hlrun -g 0 in the background, real gdb and lldb
// against it. Every process runs under `timeout`, so a hang fails a test instead of blocking.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/integration/guests.h"
#include "tests/support/subprocess.h"

namespace hlrr::testing {

// A debug server started in the background (`hlrun -g 0 ...`, `hlreplay trace -g 0`): the
// constructor reads the port from its first line; finish() waits for it and returns the rest of
// its output.
class BackgroundServer {
 public:
  explicit BackgroundServer(const std::string& command) {
    pipe_ = ::popen((command + " 2>&1").c_str(), "r");
    char line[512] = {};
    if (pipe_ != nullptr && std::fgets(line, sizeof line, pipe_) != nullptr) {
      const std::string text = line;
      if (auto at = text.rfind("127.0.0.1:"); at != std::string::npos) {
        port_ = std::atoi(text.c_str() + at + 10);
      }
    }
  }
  ~BackgroundServer() { finish(); }
  BackgroundServer(const BackgroundServer&) = delete;
  BackgroundServer& operator=(const BackgroundServer&) = delete;
  int port() const { return port_; }
  int exit_code() const { return exit_code_; }
  std::string finish() {
    if (pipe_ == nullptr) return rest_;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe_)) > 0) rest_.append(buf, n);
    const int status = ::pclose(pipe_);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pipe_ = nullptr;
    return rest_;
  }

 private:
  FILE* pipe_ = nullptr;
  int port_ = 0;
  int exit_code_ = -1;
  std::string rest_;
};

// `hlrun -g 0 guest.elf --call ...` waiting for a debugger.
class DebuggedHlrun : public BackgroundServer {
 public:
  DebuggedHlrun(const std::string& backend, const std::string& guest, const std::string& call,
                const std::string& options = "")
      : BackgroundServer("timeout 60 " + tool_path("hlrun") + " -g 0 " + options + " --vcpu " +
                         backend + " " + guest_path(guest) + " --call " + call) {}
};

// `hlreplay trace -g 0` waiting for a debugger.
class ReplayServer : public BackgroundServer {
 public:
  explicit ReplayServer(const std::string& trace)
      : BackgroundServer("timeout 120 " + tool_path("hlreplay") + " " + trace + " -g 0") {}
};

// A live-debugging test on each backend (HLRR_INSTANTIATE_FOR_BACKENDS) that needs gdb.
class GdbBackendTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  }
  std::string backend() const { return std::string(vmm::to_string(GetParam())); }
};

inline std::string quote_all(const std::string& flag, const std::vector<std::string>& commands) {
  std::string out;
  for (const std::string& c : commands) out += " " + flag + " '" + c + "'";
  return out;
}

inline std::string gdb_session(const std::string& guest, int port,
                               const std::vector<std::string>& commands) {
  return shell("timeout 60 gdb -batch -nx -ex 'set confirm off' -ex 'target remote :" +
               std::to_string(port) + "'" + quote_all("-ex", commands) + " " + guest_path(guest));
}

inline std::string lldb_session(const std::string& lldb, const std::string& guest, int port,
                                const std::vector<std::string>& commands) {
  return shell("timeout 60 " + lldb + " -b " + guest_path(guest) + " -o 'gdb-remote " +
               std::to_string(port) + "'" + quote_all("-o", commands));
}

inline std::string hex_address(uint64_t a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(a));
  return buf;
}

// The address of a source line's first instruction ("hello.c:20"), from the guest ELF's line
// table (gdb without a target). At -O0 this is where `break FUNCTION` stops: the first
// statement, after the prologue. 0 if gdb does not know the line.
inline uint64_t line_address(const std::string& guest, const std::string& location) {
  const std::string out =
      shell("timeout 60 gdb -batch -nx -ex 'info line " + location + "' " + guest_path(guest));
  const std::string marker = "starts at address ";
  const auto at = out.find(marker);
  return at == std::string::npos ? 0 : std::strtoull(out.c_str() + at + marker.size(), nullptr, 16);
}

#define EXPECT_CONTAINS(haystack, needle)                                                       \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "missing: " << (needle) << "\nin:\n" \
                                                        << (haystack)

}  // namespace hlrr::testing
