// hlrun's call sessions: several guest calls in one run, from `--call F ARGS...` (repeatable)
// and `--calls FILE` (`-`: stdin; one call a line), optionally each from the state right after
// the initialisation (`--fresh`). A recording holds the whole session.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "base/expected.h"
#include "vmm/sandbox.h"
#include "vmm/value.h"

namespace hlrr::cli {

struct CallSpec {
  std::string function;
  std::vector<vmm::Value> args;
  std::string text;  // as written: "add_sample 10", for messages
};

// {"add_sample", "10"} -> add_sample(10); arguments as parse_call_argument() reads them.
base::Expected<CallSpec> parse_call_words(const std::vector<std::string>& words);

// One call a line: `FUNCTION ARG ARG ...`, words separated by blanks; a word in double quotes
// may hold blanks (\" and \\ inside). Empty lines and lines starting with `#` are skipped.
// Errors name the line: "calls.txt:3: unterminated quote".
base::Expected<std::vector<CallSpec>> parse_call_lines(std::istream& in, const std::string& name);

// The session's calls: each --call group in order, then the lines of `calls_file` ("": none,
// "-": stdin). Neither: one call of `main`.
base::Expected<std::vector<CallSpec>> gather_calls(
    const std::vector<std::vector<std::string>>& call_groups, const std::string& calls_file);

struct SessionOptions {
  bool fresh = false;  // restore the post-initialisation state before every call
  // Where to write an ELF core of the guest when a call faults ("": none), debug/core_dump.h.
  std::string core_on_fault;
  std::string program;  // the guest's name, for the core
  // A call that faults or times out does not end the session: the next one runs (the flight
  // recorder's use: many calls, one of which fails). The exit code is still 1.
  bool keep_going = false;
};

// Runs `calls` in order on `sandbox`, initialised and idle. Prints the guest's output and one
// `result: VALUE` line a call, as `[N] result: VALUE` when there are several (N from 1). Stops
// at the first call that faults or times out (a recording ends there too): prints
// `hlrun: [N] F ARGS: guest fault: ...` (just `hlrun: guest fault: ...` for a single call) and
// which calls were not run; with `core_on_fault`, writes the faulting state's core there and
// says so in one line (`hlrun: core written to PATH`). Returns hlrun's exit code: 0 when every call
// returned, 1 when one faulted, 2 when the guest refused one (unknown function, wrong arguments: a
// usage error).
int run_calls(vmm::Sandbox& sandbox, const std::vector<CallSpec>& calls, SessionOptions options);

}  // namespace hlrr::cli
