// The source files a recording carries (`hlrun --record --embed-sources`), written out for a
// debugger: each under DIR at its recorded absolute path, so gdb's `directory DIR` finds
// /work/x/buggy.c as DIR/work/x/buggy.c (gdb appends an absolute name to each source
// directory). A path from the trace is untrusted: one that is not absolute or has a `..` is
// refused, never written outside DIR.
#pragma once

#include <string>

#include "base/expected.h"
#include "trace_format/records.h"

namespace hlrr::cli {

// Writes every source of `setup` under `dir` (created); returns how many were written.
base::Expected<size_t> extract_sources(const trace::Setup& setup, const std::string& dir);

}  // namespace hlrr::cli
