// diff_traces: the first difference between two recordings of the same guest, record by record
// (calls and their arguments, exits, host data, results), as `hltrace diff` prints it. Memory
// deltas are not compared: they are snapshots replay checks against, and any difference they
// show is already a difference in the exits around them. Reads both traces chunk by chunk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/expected.h"
#include "trace_format/trace_reader.h"

namespace hlrr::trace {

struct TraceDifference {
  std::string where;  // "call 3 (add_sample)", "exit 12 (port-out) in call 3 (add_sample)"
  std::string what;   // "argument 1: 5 vs 7", "rax: 0x10 vs 0x11"
  uint64_t call = 0;  // the call it is in (1-based; 0 = initialisation)
  // The last exit both recordings agree on, with its instruction count (0 = none: they part
  // before the first exit). `hltrace diff --replay` starts its lock-step search there.
  std::optional<uint64_t> last_common_exit;
  uint64_t last_common_count = 0;
};

struct DiffSummary {
  std::optional<TraceDifference> first;  // nullopt: the recordings agree
  uint64_t calls = 0;                    // compared, in the common prefix
  uint64_t exits = 0;
};

base::Expected<DiffSummary> diff_traces(const TraceReader& a, const TraceReader& b);

// "a: ..." / "b: ..." helpers shared with the replay-level diff.
std::string describe_value(const Value& value);
// The first register that differs, as "rax: 0x10 vs 0x11"; "" when equal.
std::string first_register_difference(const Registers& a, const Registers& b);

}  // namespace hlrr::trace
