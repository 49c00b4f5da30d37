// hlreplay: re-executes a recording. Wiring only: parsing (CLI11) and replay/ calls.
//   hlreplay trace.cap --check       replays to the end: "deterministic: N exits, M instructions"
//                                    or the first divergence (exit 1)
//   hlreplay trace.cap -g PORT       serves the replay to gdb/lldb on localhost:PORT
//   hlreplay trace.cap --gdb         starts gdb connected to it, with the recording's symbols
//   hlreplay trace.cap --core-at N -o guest.core
//                                    writes an ELF core of the guest at instruction count N
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "cli/debug_session.h"
#include "cli/embedded_sources.h"
#include "replay/replay_session.h"
#include "replay/replay_target.h"
#include "replay/timeline.h"
#include "rsp/server.h"

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

// --core-at's value: an instruction count, or ""/"end" for the end (nullopt).
hlrr::base::Expected<std::optional<uint64_t>> parse_core_at(const std::string& text) {
  if (text.empty() || text == "end") return std::optional<uint64_t>();
  uint64_t n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size())
    return hlrr::base::fail("'" + text + "' is not an instruction count");
  return std::optional<uint64_t>(n);
}

// Seeks to instruction count `at` (nullopt: the end of the recording) and writes the guest's
// core there: 0, or 1 if replay diverges on the way, 2 for a count beyond the end.
int write_core(hlrr::replay::ReplaySession& session, std::optional<uint64_t> at,
               const std::string& path, const hlrr::replay::TimelineOptions& options) {
  using namespace hlrr;
  replay::Timeline timeline(session, options);
  const replay::TimelineStop stop = timeline.seek(at.value_or(UINT64_MAX));
  if (stop.kind == replay::TimelineStop::Kind::kDivergence)
    return fail(kExitDiverged, "divergence: " + session.divergence());
  if (at && timeline.now() != *at)
    return fail(kExitUsage, "--core-at: instruction " + std::to_string(*at) +
                                " is beyond the end of the recording (" +
                                std::to_string(timeline.now()) + " instructions)");
  replay::ReplayTarget target(timeline);
  if (auto st = target.write_core(path); !st) return fail(1, st.error().message);
  std::printf("core at instruction %llu written to %s\n",
              static_cast<unsigned long long>(timeline.now()), path.c_str());
  return 0;
}

// A directory of our own under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/hlreplay-XXXXXX";
    if (mkdtemp(name)) path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Serves the replay; with `gdb` set, runs gdb against it (symbols from the embedded ELF).
int serve(hlrr::replay::ReplaySession& session,
          const hlrr::replay::TimelineOptions& timeline_options,
          const hlrr::cli::DebugListen& listen, bool start_gdb, bool verbose) {
  using namespace hlrr;
  replay::Timeline timeline(session, timeline_options);
  replay::ReplayTarget target(timeline);
  rsp::ServerOptions options{.address = listen.address, .port = listen.port};
  if (verbose)
    options.log = [](std::string_view line) {
      std::fprintf(stderr, "hlreplay: rsp: %.*s\n", static_cast<int>(line.size()), line.data());
    };
  auto server = rsp::Server::create(target, options);
  if (!server) return fail(kExitUsage, server.error().message);
  // A recording with its sources (--embed-sources): written out for the debugger, removed at exit.
  TempDir dir;
  if (!dir.ok()) return fail(1, "cannot create a temporary directory");
  const std::string sources = dir.path() + "/sources";
  auto extracted = cli::extract_sources(session.setup(), sources);
  if (!extracted) return fail(1, extracted.error().message);
  if (!start_gdb) {
    std::fprintf(stderr, "hlreplay: replaying %s (%llu exits); waiting for a debugger on %s\n",
                 session.setup().guest_name.c_str(),
                 static_cast<unsigned long long>(session.recorded_exits()),
                 cli::listening_text(**server).c_str());
    if (*extracted > 0)  // after the line above: scripts read the port from the first line
      std::fprintf(stderr,
                   "hlreplay: %zu source files from the recording in %s (gdb: directory %s)\n",
                   *extracted, sources.c_str(), sources.c_str());
    std::fflush(stderr);
    auto end = (*server)->run();
    if (!end) return fail(1, "debug server: " + end.error().message);
    return 0;
  }
  // Like `rr replay`: the guest's symbols come from the ELF embedded in the recording.
  const std::string elf =
      dir.path() + "/" + std::filesystem::path(session.setup().guest_name).filename().string();
  std::ofstream(elf, std::ios::binary)
      .write(reinterpret_cast<const char*>(session.setup().elf.data()),
             static_cast<std::streamsize>(session.setup().elf.size()));
  std::thread serving([&] { (void)(*server)->run(); });
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string remote = "target remote " + (*server)->endpoints().front();
    const std::string directory = "directory " + sources;
    if (*extracted > 0) {
      execlp("gdb", "gdb", "-q", elf.c_str(), "-ex", directory.c_str(), "-ex", remote.c_str(),
             static_cast<char*>(nullptr));
    } else {
      execlp("gdb", "gdb", "-q", elf.c_str(), "-ex", remote.c_str(), static_cast<char*>(nullptr));
    }
    std::perror("hlreplay: gdb");
    _exit(127);
  }
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  (*server)->stop();
  serving.join();
  return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hlrr;
  CLI::App app{
      "hlreplay: replay a recording made with `hlrun --record` on the software vCPU.\n"
      "--check replays to the end and prints `deterministic: N exits, M instructions`\n"
      "(exit 0) or the first divergence (exit 1); an unreadable trace exits 2.",
      "hlreplay"};
  std::string trace_path;
  bool check_only = false;
  bool start_gdb = false;
  bool verbose = false;
  std::string debug_port, listen;
  app.add_option("trace", trace_path, "trace file (hlrun --record)")->required();
  auto* check_flag = app.add_flag("--check", check_only, "replay to the end without a debugger");
  // --check replays without a debugger: a debugger option beside it would be ignored.
  app.add_option("-g", debug_port,
                 "PORT: serve the replay to gdb/lldb on localhost:PORT (127.0.0.1 and ::1; 0: any "
                 "port)")
      ->excludes(check_flag);
  app.add_option("--listen", listen, "ADDR:PORT: as -g, on this one address only")
      ->excludes(check_flag);
  app.add_flag("--gdb", start_gdb, "start gdb connected to the replay (symbols from the recording)")
      ->excludes(check_flag);
  std::string core_at, core_path;
  auto* core_flag = app.add_option("--core-at", core_at,
                                   "N: write an ELF core of the guest at instruction count N "
                                   "(to -o; no N or `end`: the end of the recording, e.g. a "
                                   "fault)")
                        ->expected(0, 1)
                        ->excludes(check_flag);
  app.add_option("-o,--output", core_path, "FILE: where --core-at writes the core")
      ->needs(core_flag);
  core_flag->excludes("-g")->excludes("--listen")->excludes("--gdb");
  app.add_flag("-v,--verbose", verbose, "log the debug protocol's diagnostics");
  uint64_t budget_mib = hlrr::replay::kDefaultReplayBudget >> 20;
  app.add_option("--memory-budget", budget_mib,
                 "MIB: the memory hlreplay may use; checkpoints get what the guest leaves "
                 "(docs/replay.md)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  // Arguments first, then the trace: a usage error is reported without reading anything.
  // Given but empty (`-g ""`) is a mistake, not "not given".
  const bool g = app.count("-g") > 0, listen_given = app.count("--listen") > 0;
  std::optional<cli::DebugListen> where;
  if (g || listen_given || start_gdb) {
    auto parsed = cli::parse_listen(listen_given ? listen : g ? debug_port : "0");
    if (!parsed)
      return fail(kExitUsage, (listen_given ? "--listen: " : "-g: ") + parsed.error().message);
    where = *parsed;
  } else if (!check_only && !app.count("--core-at")) {
    return fail(kExitUsage, "nothing to do: give --check, -g PORT, --gdb or --core-at N -o FILE");
  }
  std::optional<uint64_t> core_count;  // nullopt: the end
  if (app.count("--core-at")) {
    if (core_path.empty()) return fail(kExitUsage, "--core-at: give the core's path with -o FILE");
    auto parsed = parse_core_at(core_at);
    if (!parsed) return fail(kExitUsage, "--core-at: " + parsed.error().message);
    core_count = *parsed;
  }
  // A debugger connects at once to any recording: its chunks are checked as replay reaches them.
  auto session = replay::ReplaySession::open(
      trace_path, where ? replay::ChunkCheck::kWhenReached : replay::ChunkCheck::kAtOpen);
  if (!session) return fail(kExitUsage, trace_path + ": " + session.error().message);
  if (check_only) return check(**session);
  const replay::TimelineOptions timeline_options{.memory_budget = budget_mib << 20};
  if (app.count("--core-at")) return write_core(**session, core_count, core_path, timeline_options);
  return serve(**session, timeline_options, *where, start_gdb, verbose);
}
