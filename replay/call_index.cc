#include "replay/call_index.h"

#include <variant>

namespace hlrr::replay {
namespace {

std::string value_text(const trace::Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  if (const auto* b = std::get_if<std::vector<uint8_t>>(&v)) {
    std::string hex = "b:";
    for (uint8_t byte : *b) {
      static const char* kDigits = "0123456789abcdef";
      hex += kDigits[byte >> 4];
      hex += kDigits[byte & 15];
    }
    return hex;
  }
  return "void";
}

}  // namespace

base::Expected<std::vector<CallInfo>> index_calls(const trace::TraceReader& reader) {
  std::vector<CallInfo> calls;
  uint64_t exits = 0;
  auto st = reader.for_each_record([&](const trace::Record& record) {
    if (const auto* start = std::get_if<trace::CallStart>(&record)) {
      calls.push_back(CallInfo{.index = calls.size(),
                               .function = start->function,
                               .args = start->args,
                               .first_exit = exits,
                               .end_exit = exits});
    } else if (const auto* exit = std::get_if<trace::Exit>(&record)) {
      exits = exit->sequence + 1;
      if (!calls.empty() && !calls.back().end) calls.back().end_exit = exits;
    } else if (const auto* end = std::get_if<trace::CallEnd>(&record)) {
      if (!calls.empty()) calls.back().end = *end;
    }
    return true;
  });
  if (!st) return base::Unexpected(std::move(st).error());
  return calls;
}

std::string call_text(const CallInfo& call) {
  if (call.function.empty()) return "(initialisation)";
  std::string text = call.function + "(";
  for (size_t i = 0; i < call.args.size(); ++i) {
    text += (i ? ", " : "") + value_text(call.args[i]);
  }
  return text + ")";
}

std::string outcome_text(const CallInfo& call) {
  if (!call.end) return "did not end";
  if (call.end->is_error()) return "fault: " + std::get<1>(call.end->outcome);
  return "returned " + value_text(std::get<0>(call.end->outcome));
}

}  // namespace hlrr::replay
