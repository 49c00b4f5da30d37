// Helpers shared by the real-guest tests (guest/real/: Lua 5.4, zlib, expat built from Debian's
// sources): a sandbox that runs them, and hlrun --record of one call.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/guests.h"
#include "tests/support/subprocess.h"
#include "vmm/standard_host_functions.h"

namespace hlrr::testing {

inline std::unique_ptr<vmm::Sandbox> real_sandbox(const std::string& guest, std::string* out) {
  vmm::SandboxConfig c;
  c.vcpu = vmm::VcpuKind::kUnicorn;  // SSE guests (docs/guests.md)
  c.memory_size = 64 << 20;
  c.timeout = std::chrono::minutes(2);
  vmm::add_standard_host_functions(c.host_functions);
  return make_sandbox(guest, out, std::move(c));
}

struct RecordOptions {
  // No guest deadline (hlrun --timeout 0), where what is tested is not speed: the ASan build
  // is ~10x slower. run_process() still bounds the run, by `limit`.
  bool no_deadline = false;
  std::chrono::minutes limit{3};
};

// hlrun --record of one call, into `trace`.
inline void record(const std::string& guest, const std::vector<std::string>& call,
                   const std::string& trace, const RecordOptions& options = {}) {
  std::vector<std::string> args = {tool_path("hlrun"),
                                   guest_path(guest),
                                   "--vcpu",
                                   "unicorn",
                                   "--mem",
                                   "64M",
                                   "--record",
                                   trace};
  if (options.no_deadline) args.insert(args.end(), {"--timeout", "0"});
  args.push_back("--call");
  args.insert(args.end(), call.begin(), call.end());
  auto rec = run_process(args, options.limit);
  ASSERT_EQ(rec.exit_code, 0) << guest << ": " << rec.out << rec.err;
}

// zlib's deflate_roundtrip of "hello hello hello hello" (23 bytes) at level 6, recorded into
// `trace`: the recording the gdb and lldb sessions inside zlib replay.
inline void record_zlib_hello(const std::string& trace) {
  record("zlib", {"deflate_roundtrip", "b:68656c6c6f2068656c6c6f2068656c6c6f2068656c6c6f", "6"},
         trace);
}

}  // namespace hlrr::testing
