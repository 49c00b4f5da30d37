#include "cli/trace_diff_command.h"

#include <cinttypes>
#include <cstdio>

#include "base/hex.h"
#include "base/printable.h"
#include "dwarf/source_lines.h"
#include "replay/lockstep_diff.h"
#include "replay/replay_session.h"
#include "trace_format/trace_diff.h"

namespace hlrr::cli {
namespace {

constexpr int kSame = 0, kDifferent = 1, kTrouble = 2;

int trouble(const std::string& message) {
  std::fprintf(stderr, "hltrace diff: %s\n", base::printable(message).c_str());
  return kTrouble;
}

// "sort_hash+0x1c (compute.c:42)" for the parting instruction.
std::string place(replay::ReplaySession& session, uint64_t rip) {
  std::string where = session.image().symbols().describe(rip);
  if (auto lines = dwarf::SourceLines::open(session.setup().elf); lines) {
    if (std::string line = lines->describe(rip); !line.empty()) where += " (" + line + ")";
  }
  return where;
}

int replay_diff(const std::string& path_a, const std::string& path_b, uint64_t from) {
  auto a = replay::ReplaySession::open(path_a);
  if (!a) return trouble(path_a + ": " + a.error().message);
  auto b = replay::ReplaySession::open(path_b);
  if (!b) return trouble(path_b + ": " + b.error().message);
  auto result = replay::find_parting(**a, **b, from);
  if (!result) return trouble(result.error().message);
  if (!result->parting) {
    std::printf("the executions never part: both replayed to instruction %" PRIu64
                " (a) and %" PRIu64 " (b) with equal registers\n",
                result->end_a, result->end_b);
    return kDifferent;  // the recordings still differ (host data), the executions agree
  }
  const replay::Parting& p = *result->parting;
  std::printf("executions part at instruction %" PRIu64 " in a and %" PRIu64
              " in b: rip %s %s: after it %s\n",
              p.count, p.count, base::hex(p.rip).c_str(),
              base::printable(place(**a, p.rip)).c_str(), p.difference.c_str());
  return kDifferent;
}

}  // namespace

int trace_diff_command(const std::string& path_a, const std::string& path_b, bool replay) {
  auto a = trace::TraceReader::open(path_a);
  if (!a) return trouble(path_a + ": " + a.error().message);
  auto b = trace::TraceReader::open(path_b);
  if (!b) return trouble(path_b + ": " + b.error().message);
  auto summary = trace::diff_traces(**a, **b);
  if (!summary) return trouble(summary.error().message);
  if (!summary->first) {
    std::printf("no difference: %" PRIu64 " calls and %" PRIu64 " exits agree\n", summary->calls,
                summary->exits);
    return kSame;
  }
  const trace::TraceDifference& d = *summary->first;
  std::printf("first difference: %s: %s\n", base::printable(d.where).c_str(),
              base::printable(d.what).c_str());
  std::printf("  (%" PRIu64 " calls and %" PRIu64 " exits agree before it)\n", summary->calls,
              summary->exits);
  std::fflush(stdout);
  if (!replay) return kDifferent;
  return replay_diff(path_a, path_b, d.last_common_count);
}

}  // namespace hlrr::cli
