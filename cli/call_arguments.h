// Parsing guest-call arguments from the command line: `42`, `0x2a` and `-7` are integers
// (decimal or 0x hex, never octal; one that does not fit 64 bits is an error), `s:42` forces a
// string, `b:0a0b` is a byte buffer in hex; anything else is a string.
#pragma once

#include <string>
#include <vector>

#include "base/expected.h"
#include "vmm/value.h"

namespace hlrr::cli {

base::Expected<vmm::Value> parse_call_argument(const std::string& text);
base::Expected<std::vector<vmm::Value>> parse_call_arguments(const std::vector<std::string>& texts);

// Sizes like 4194304, 4096K, 16M, 1G.
base::Expected<uint64_t> parse_size(const std::string& text);

}  // namespace hlrr::cli
