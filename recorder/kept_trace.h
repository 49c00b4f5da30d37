// Writing one whole trace file atomically, for the flight recorder: a crash at any moment leaves
// either no file or the complete, fsynced trace under its final name, never a partial one.
#pragma once

#include <string>
#include <vector>

#include "base/expected.h"
#include "trace_format/records.h"
#include "trace_format/trace_writer.h"

namespace hlrr::recorder {

// Writes `setup`, `records` (moved out) and `end` into a hidden temporary file in `path`'s
// directory, fsyncs it, renames it to `path` and fsyncs the directory. On failure the temporary
// file is removed and the error names the path and errno.
base::Status write_trace_atomically(const std::string& path, const trace::Setup& setup,
                                    std::vector<trace::Record>& records, trace::End end,
                                    const trace::WriterOptions& options);

// `directory`/`stem`.cap, or `stem`-2.cap, -3, ... if that exists: a kept trace never replaces
// another. Characters other than [A-Za-z0-9._-] in `stem` become '_'.
std::string unused_trace_path(const std::string& directory, const std::string& stem);

}  // namespace hlrr::recorder
