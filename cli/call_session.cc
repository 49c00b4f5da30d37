#include "cli/call_session.h"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/call_arguments.h"
#include "cli/fault_core.h"

namespace hlrr::cli {
namespace {

// Splits one line into words; nullopt with `error` set on an unterminated quote.
std::optional<std::vector<std::string>> split_words(const std::string& line, std::string& error) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    if (std::isspace(static_cast<unsigned char>(line[i]))) {
      ++i;
      continue;
    }
    std::string word;
    bool quoted = false;
    for (; i < line.size(); ++i) {
      const char c = line[i];
      if (!quoted && std::isspace(static_cast<unsigned char>(c))) break;
      if (c == '"') {
        quoted = !quoted;
      } else if (quoted && c == '\\' && i + 1 < line.size()) {
        word += line[++i];
      } else {
        word += c;
      }
    }
    if (quoted) {
      error = "unterminated quote";
      return std::nullopt;
    }
    words.push_back(std::move(word));
  }
  return words;
}

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

}  // namespace

base::Expected<CallSpec> parse_call_words(const std::vector<std::string>& words) {
  if (words.empty() || words.front().empty()) return base::fail("a call needs a function name");
  auto args = parse_call_arguments(std::vector(words.begin() + 1, words.end()));
  if (!args) return base::Unexpected(std::move(args).error());
  return CallSpec{.function = words.front(), .args = std::move(*args), .text = join(words)};
}

base::Expected<std::vector<CallSpec>> parse_call_lines(std::istream& in, const std::string& name) {
  std::vector<CallSpec> calls;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::string error;
    auto words = split_words(line, error);
    if (!words) return base::fail(name + ":" + std::to_string(number) + ": " + error);
    auto call = parse_call_words(*words);
    if (!call) return base::fail(name + ":" + std::to_string(number) + ": " + call.error().message);
    calls.push_back(std::move(*call));
  }
  if (in.bad()) return base::fail(name + ": read error");
  return calls;
}

base::Expected<std::vector<CallSpec>> gather_calls(
    const std::vector<std::vector<std::string>>& call_groups, const std::string& calls_file) {
  std::vector<CallSpec> calls;
  for (const auto& group : call_groups) {
    auto call = parse_call_words(group);
    if (!call) return base::fail("--call: " + call.error().message);
    calls.push_back(std::move(*call));
  }
  if (!calls_file.empty()) {
    std::ifstream file;
    if (calls_file != "-") {
      file.open(calls_file);
      if (!file) return base::fail("--calls: cannot open '" + calls_file + "'");
    }
    auto lines = parse_call_lines(calls_file == "-" ? std::cin : file,
                                  calls_file == "-" ? "stdin" : calls_file);
    if (!lines) return base::fail("--calls: " + lines.error().message);
    if (lines->empty()) return base::fail("--calls: no calls in '" + calls_file + "'");
    for (auto& call : *lines) calls.push_back(std::move(call));
  }
  if (calls.empty()) calls.push_back(CallSpec{.function = "main", .text = "main"});
  return calls;
}

int run_calls(vmm::Sandbox& sandbox, const std::vector<CallSpec>& calls, SessionOptions options) {
  const bool several = calls.size() > 1;
  std::optional<vmm::Snapshot> initialised;
  bool faulted = false;
  if (options.fresh && several) initialised = sandbox.snapshot();
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string tag = several ? "[" + std::to_string(i + 1) + "] " : "";
    if (initialised && i > 0) {
      if (auto st = sandbox.restore(*initialised); !st) {
        std::fprintf(stderr, "hlrun: %s--fresh: %s\n", tag.c_str(), st.error().message.c_str());
        return 1;
      }
    }
    auto result = sandbox.call(calls[i].function, calls[i].args);
    std::fflush(stdout);
    if (!result) {
      const std::string who = several ? tag + calls[i].text + ": " : "";
      // The guest refusing the call (unknown function, wrong arguments) is a usage error.
      const bool refused = result.error().kind == vmm::FaultKind::kGuestError;
      std::fprintf(stderr, "hlrun: %s%s%s\n", who.c_str(),
                   refused ? "" : "guest fault: ", result.error().to_string().c_str());
      if (!refused && !options.core_on_fault.empty())
        write_fault_core(sandbox, options.core_on_fault, options.program);
      if (!refused && options.keep_going) {
        faulted = true;
        continue;
      }
      if (i + 2 == calls.size()) std::fprintf(stderr, "hlrun: call %zu not run\n", i + 2);
      if (i + 2 < calls.size()) {
        std::fprintf(stderr, "hlrun: calls %zu-%zu not run\n", i + 2, calls.size());
      }
      return refused ? 2 : 1;
    }
    std::printf("%sresult: %s\n", tag.c_str(), vmm::to_string(*result).c_str());
    std::fflush(stdout);
  }
  return faulted ? 1 : 0;
}

}  // namespace hlrr::cli
