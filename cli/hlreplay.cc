// hlreplay: re-executes a recording. Wiring only: parsing (CLI11) and replay/ calls.
//   hlreplay trace.cap --check       replays to the end: "deterministic: N exits, M instructions"
//                                    or the first divergence (exit 1)
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>

#include "replay/replay_session.h"

namespace {

constexpr int kExitDiverged = 1;
constexpr int kExitUsage = 2;

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "hlreplay: %s\n", message.c_str());
  return code;
}

// Replays to the end in slices, drawing a progress bar (by exits) on a terminal.
int check(hlrr::replay::ReplaySession& session) {
  using hlrr::replay::StopKind;
  const bool tty = isatty(STDERR_FILENO);
  const uint64_t total = session.recorded_exits();
  constexpr uint64_t kSlice = 20'000'000;  // instructions between progress updates
  StopKind stop;
  for (;;) {
    stop = session.run_to(tty ? session.instruction_count() + kSlice : UINT64_MAX);
    if (stop != StopKind::kReachedCount) break;
    const uint64_t done = session.exits_replayed();
    const int width = 40;
    const int filled = total ? static_cast<int>(width * done / total) : 0;
    std::fprintf(stderr, "\r[%-*s] %llu/%llu exits, %llu instructions", width,
                 std::string(filled, '#').c_str(), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total),
                 static_cast<unsigned long long>(session.instruction_count()));
  }
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (stop == StopKind::kDivergence) {
    std::printf("divergence: %s\n", session.divergence().c_str());
    return kExitDiverged;
  }
  std::printf("deterministic: %llu exits, %llu instructions\n",
              static_cast<unsigned long long>(session.exits_replayed()),
              static_cast<unsigned long long>(session.instruction_count()));
  std::printf("end: %s\n", session.end_note().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hlrr;
  CLI::App app{"hlreplay: replay a recording made with `hlrun --record` on the software vCPU.\n"
               "--check replays to the end and prints `deterministic: N exits, M instructions`\n"
               "(exit 0) or the first divergence (exit 1); an unreadable trace exits 2.",
               "hlreplay"};
  std::string trace_path;
  bool check_only = false;
  app.add_option("trace", trace_path, "trace file (hlrun --record)")->required();
  app.add_flag("--check", check_only, "replay to the end without a debugger");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  auto session = replay::ReplaySession::open(trace_path);
  if (!session) return fail(kExitUsage, trace_path + ": " + session.error().message);
  if (check_only) return check(**session);
  return fail(kExitUsage, "nothing to do: give --check");
}
