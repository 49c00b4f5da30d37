// Runs a program to completion with a time limit, capturing stdout and stderr: the way
// integration tests drive hlrun, hlreplay, gdb and lldb. A program that outlives its limit is
// killed and reported as timed out, so a hang fails a test instead of blocking the suite.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace hlrr::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Whether `tool` is on PATH (tests that drive gdb or lldb skip, saying so, when it is not).
bool have_tool(const std::string& tool);

// lldb 22, for reverse execution (`process continue --reverse`): scripts/install-deps.sh unpacks
// it beside Debian's lldb 14, whose package conflicts with it, at HLRR_LLDB22
// (/opt/hlrr-lldb-22/bin/lldb-22); an lldb-22 on PATH also does. "" when there is none, and then
// lldb22_missing() says why for GTEST_SKIP.
std::string lldb22();
std::string lldb22_missing();

// Runs a shell command line; returns its stdout and stderr interleaved. Put a `timeout` in the
// command when it could hang (run_process() is the time-limited way to start one program).
std::string shell(const std::string& command);

ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds limit = std::chrono::seconds(60),
                          const std::string& stdin_text = "");

}  // namespace hlrr::testing
