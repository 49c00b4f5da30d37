// The guest's source files for a self-contained trace (`hlrun --record --embed-sources`): every
// file the ELF's DWARF line tables name that can be read here, so that a debugger on a machine
// without the checkout shows source lines (hlreplay extracts them; docs/recording.md).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "trace_format/records.h"

namespace hlrr::recorder {

// A source file larger than this is not embedded (told through `notice`): a line table names
// sources, not data, and a trace must stay small enough to attach to a bug report.
inline constexpr uint64_t kMaxEmbeddedSource = 8ull << 20;

// The readable source files named by `elf`'s line tables; one `notice` line per file left out
// ("--embed-sources: /path/x.h: not found, not embedded").
std::vector<trace::SourceFile> read_guest_sources(
    std::span<const uint8_t> elf, const std::function<void(const std::string&)>& notice);

}  // namespace hlrr::recorder
