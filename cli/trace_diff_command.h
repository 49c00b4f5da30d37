// `hltrace diff a.cap b.cap [--replay]`: the first difference between two recordings of the same
// guest, and with --replay the first instruction where their executions part.
// Exit status as diff(1): 0 the same, 1 different, 2 trouble (usage, unreadable, diverged).
#pragma once

#include <string>

namespace hlrr::cli {

int trace_diff_command(const std::string& a, const std::string& b, bool replay);

}  // namespace hlrr::cli
