// The guest calls of a recording, read from its CallStart/CallEnd records without replaying
// (`monitor calls`, `monitor seek-call`). Call 0 is the guest's initialisation (recorded as the
// call ""), the calls the host made follow from 1 in order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"
#include "trace_format/records.h"
#include "trace_format/trace_reader.h"

namespace hlrr::replay {

struct CallInfo {
  uint64_t index = 0;
  std::string function;  // "" = the initialisation
  std::vector<trace::Value> args;
  // The call's exits are [first_exit, end_exit) (empty when it took none).
  uint64_t first_exit = 0;
  uint64_t end_exit = 0;
  std::optional<trace::CallEnd> end;  // nullopt: the recording ends during the call
};

base::Expected<std::vector<CallInfo>> index_calls(const trace::TraceReader& reader);

// "add_sample(10)", "(initialisation)", "greet(\"world\")".
std::string call_text(const CallInfo& call);
// "returned 17", "returned void", "fault: #PF at ...", "did not end".
std::string outcome_text(const CallInfo& call);

}  // namespace hlrr::replay
