// hlrun: run a guest function in a micro-VM. Wiring only: parsing (CLI11) and Sandbox calls.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/call_arguments.h"
#include "cli/call_session.h"
#include "cli/debug_session.h"
#include "cli/vcpu_selection.h"
#include "recorder/flight_recorder.h"
#include "recorder/recorder.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

namespace {

constexpr int kExitUsage = 2;
// The longest --timeout: a year. Longer limits are no limit in practice, and beyond ~292 years
// a deadline no longer fits the clock.
constexpr int64_t kMaxTimeoutMs = 365LL * 24 * 3600 * 1000;
constexpr int kExitRecordingFailed = 3;  // the call ran (its outcome is printed); the trace failed

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "hlrun: %s\n", message.c_str());
  return code;
}

// The command line as given.
struct Options {
  std::string guest_path;
  std::vector<std::vector<std::string>> call;
  std::string calls_file;
  bool fresh = false;
  bool embed_sources = false;
  bool record_memory = false;
  uint64_t delta_every = 4096;
  std::string vcpu = "auto";
  int64_t timeout_ms = 10'000;
  std::string memory = "4M";
  bool verbose = false;
  std::string record_path;
  std::string debug_port, listen;
  std::string core_path;
  std::string flight_dir;
  uint64_t flight_before = 0;
  std::string flight_buffer = "64M";
};

// What to run, checked: the sandbox's configuration, the calls, and the debugger's address.
struct Plan {
  hlrr::vmm::SandboxConfig config;
  std::vector<hlrr::cli::CallSpec> calls;
  std::optional<hlrr::cli::DebugListen> debug;
  uint64_t flight_bytes = 0;
};

constexpr const char* kDescription =
    "hlrun: run a function of a freestanding x86-64 guest ELF in an hlrr micro-VM.\n"
    "Prints what the guest prints, then `result: VALUE`. A guest fault prints one line\n"
    "and exits 1; bad arguments or an unloadable guest exit 2; a recording that fails\n"
    "after the calls ran (disk full) prints their outcome, then why, and exits 3.\n"
    "Several calls (--call repeated, --calls FILE) run in order in one sandbox and one\n"
    "recording, each printing `[N] result: VALUE`; the first that faults ends the session\n"
    "(later calls do not run) and hlrun exits 1. With --flight-recorder DIR the session\n"
    "goes on, and each failing call is kept in DIR as one trace (docs/recording.md).";

void define_run_options(CLI::App& app, Options& o) {
  app.add_option("guest", o.guest_path, "guest ELF (built with the hlrr guest SDK)")->required();
  app.add_option("--call", o.call,
                 "FN [ARGS...]: guest function to call and its arguments (default: main).\n"
                 "42, -7, 0x2a are integers; s:TEXT forces a string; b:HEX is bytes.\n"
                 "Repeat it for a session of calls, run in order")
      ->expected(1, -1);
  app.add_option("--calls", o.calls_file,
                 "FILE: calls to run after any --call, one a line `FN ARGS...` (- : stdin)");
  app.add_flag("--fresh", o.fresh,
               "restore the state right after initialisation before each call of a session");
  app.add_option(
         "--vcpu", o.vcpu,
         "vCPU backend: auto (KVM where /dev/kvm is usable and can execute the guest; -v says "
         "which and why), kvm, unicorn")
      ->check(CLI::IsMember({"auto", "kvm", "unicorn"}))
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_ms,
                 "per-call limit in milliseconds (0: none; at most a year)")
      ->check(CLI::Range(int64_t{0}, kMaxTimeoutMs))
      ->capture_default_str();
  app.add_option("--mem", o.memory, "guest memory size (e.g. 4M, 64M)")->capture_default_str();
}

void define_recording_options(CLI::App& app, Options& o) {
  auto* record_opt =
      app.add_option("--record", o.record_path,
                     "record the run (initialisation and every call) into this trace file");
  app.add_flag("--embed-sources", o.embed_sources,
               "store the guest's source files (named by its DWARF) in the recording, for a "
               "debugger on a machine without them")
      ->needs(record_opt);
  app.add_flag("--record-memory", o.record_memory,
               "store the contents of changed memory pages in the recording's memory deltas "
               "(default: only their checksums, which is all replay needs)")
      ->needs(record_opt);
  app.add_option("--delta-every", o.delta_every,
                 "EXITS: a memory delta at least every EXITS exits (default 4096); with "
                 "--record-memory, replay can start from any of them")
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX))
      ->needs(record_opt);
  app.add_option("--core-on-fault", o.core_path,
                 "PATH: when a call faults, write an ELF core of the guest's faulting state "
                 "(gdb GUEST.elf PATH); under -g as the fault stops the guest");
  app.add_option(
      "--flight-recorder", o.flight_dir,
      "DIR: record every call into a bounded buffer and keep, as one trace in DIR, each\n"
      "call that faults, panics or times out (the session goes on after it)");
  app.add_option("--flight-before", o.flight_before,
                 "K: a kept trace also holds the K calls before the failing one")
      ->capture_default_str();
  app.add_option("--flight-buffer", o.flight_buffer,
                 "SIZE: the flight recorder's bound on buffered calls (e.g. 64M)")
      ->capture_default_str();
}

void define_debug_options(CLI::App& app, Options& o) {
  app.add_option("-g", o.debug_port,
                 "PORT: wait for gdb/lldb on localhost:PORT (127.0.0.1 and ::1; 0: any port, "
                 "printed)");
  app.add_option("--listen", o.listen,
                 "ADDR:PORT: as -g, on this one address only (full control of the guest!)");
  app.add_flag("-v,--verbose", o.verbose,
               "say which backend runs the guest and how many exits it took");
}

// Checks what cannot be checked while parsing; an error is a usage error's one line.
hlrr::base::Expected<Plan> plan(const CLI::App& app, const Options& o) {
  using hlrr::base::fail;
  Plan p;
  auto size = hlrr::cli::parse_size(o.memory);
  if (!size) return fail("--mem: " + size.error().message);
  auto calls = hlrr::cli::gather_calls(o.call, o.calls_file);
  if (!calls) return hlrr::base::Unexpected(std::move(calls).error());
  p.calls = std::move(*calls);
  p.config.vcpu = *hlrr::vmm::parse_vcpu_kind(o.vcpu);
  p.config.memory_size = *size;
  p.config.timeout = std::chrono::milliseconds(o.timeout_ms);
  hlrr::vmm::add_standard_host_functions(p.config.host_functions);
  // Given but empty (`-g ""`, `--record ""`) is a mistake, not "not given".
  if (app.count("--record") > 0 && o.record_path.empty()) return fail("--record: empty trace path");
  if (app.count("--core-on-fault") > 0 && o.core_path.empty())
    return fail("--core-on-fault: empty path");
  if (app.count("--flight-recorder") > 0 && o.flight_dir.empty())
    return fail("--flight-recorder: empty directory");
  auto flight_bytes = hlrr::cli::parse_size(o.flight_buffer);
  if (!flight_bytes) return fail("--flight-buffer: " + flight_bytes.error().message);
  p.flight_bytes = *flight_bytes;
  if (!o.flight_dir.empty() && !o.record_path.empty())
    return fail("--flight-recorder and --record: choose one");
  const bool debugged = app.count("-g") > 0 || app.count("--listen") > 0;
  if (!o.flight_dir.empty() && debugged)
    return fail("--flight-recorder runs without a debugger (debug a kept trace with hlreplay)");
  if (debugged) {
    const bool g = app.count("--listen") == 0;
    auto where = hlrr::cli::parse_listen(g ? o.debug_port : o.listen);
    if (!where) return fail((g ? "-g: " : "--listen: ") + where.error().message);
    p.debug = *where;
    // A debugger holds the guest stopped for as long as it likes: no limit unless asked for.
    if (app.count("--timeout") == 0) p.config.timeout = std::chrono::milliseconds(0);
    if (p.calls.size() > 1)
      return fail(
          "-g debugs one call; record the session (--record) and debug the recording with "
          "hlreplay");
  }
  return p;
}

// Recording starts before the initialisation, so the trace holds the guest's whole life.
hlrr::base::Expected<std::unique_ptr<hlrr::recorder::Recorder>> start_recording(
    hlrr::vmm::Sandbox& sandbox, const Options& o) {
  const std::string name = std::filesystem::path(o.guest_path).filename().string();
  hlrr::recorder::RecordOptions options{
      .guest_name = name, .memory_contents = o.record_memory, .embed_sources = o.embed_sources};
  options.delta_every_exits = o.delta_every;
  options.notice = [](const std::string& line) {
    std::fprintf(stderr, "hlrun: --record: %s\n", line.c_str());
  };
  auto started = hlrr::recorder::record_to(sandbox, o.record_path, std::move(options));
  if (!started) return started;
  for (const auto& line : (*started)->warnings())
    std::fprintf(stderr, "hlrun: warning: %s\n", line.c_str());
  return started;
}

// Runs the guest's initialisation: 0, or the exit code after saying why it failed.
int initialise(hlrr::vmm::Sandbox& sandbox, hlrr::recorder::Recorder* recording) {
  using hlrr::vmm::RunOutcome;
  const RunOutcome init = sandbox.resume();
  if (init.kind == RunOutcome::Kind::kReturned) return 0;
  if (recording) (void)recording->finish();
  if (init.kind != RunOutcome::Kind::kFaulted)
    return fail(kExitUsage, "guest initialisation stopped unexpectedly");
  return fail(kExitUsage, init.fault.kind == hlrr::vmm::FaultKind::kGuestError
                              ? init.fault.message  // as Sandbox::create() words it
                              : "guest initialisation failed: " + init.fault.to_string());
}

hlrr::base::Expected<std::unique_ptr<hlrr::recorder::FlightRecorder>> start_flight_recorder(
    hlrr::vmm::Sandbox& sandbox, const Options& o, uint64_t buffer_bytes) {
  hlrr::recorder::FlightOptions options{
      .directory = o.flight_dir,
      .guest_name = std::filesystem::path(o.guest_path).filename().string(),
      .calls_before = o.flight_before,
      .max_buffer_bytes = buffer_bytes};
  options.notice = [](const std::string& line) {
    std::fprintf(stderr, "hlrun: flight recorder: %s\n", line.c_str());
  };
  return hlrr::recorder::flight_record(sandbox, std::move(options));
}

// The calls' outcomes are printed whatever becomes of the recording (disk full): then the
// exit code says the recording failed, unless a call's failure says more.
int finish_recording(int code, hlrr::recorder::Recorder& recording) {
  if (auto st = recording.finish(); !st)
    return fail(code != 0 ? code : kExitRecordingFailed, "--record: " + st.error().message);
  return code;
}

// The calls, initialisation included, without a debugger.
int run_session(hlrr::vmm::Sandbox& sandbox, const Options& o, Plan& p,
                hlrr::recorder::Recorder* recording) {
  if (const int code = initialise(sandbox, recording); code != 0) return code;
  if (o.verbose)
    std::fprintf(stderr, "hlrun: vcpu backend: %s\n",
                 std::string(sandbox.vcpu().backend_name()).c_str());
  std::unique_ptr<hlrr::recorder::FlightRecorder> flight;
  if (!o.flight_dir.empty()) {
    auto started = start_flight_recorder(sandbox, o, p.flight_bytes);
    if (!started) return fail(kExitUsage, "--flight-recorder: " + started.error().message);
    flight = std::move(*started);
  }
  const std::string program = std::filesystem::path(o.guest_path).filename().string();
  const int code = hlrr::cli::run_calls(
      sandbox, p.calls,
      {.fresh = o.fresh, .core_on_fault = o.core_path, .program = program, .keep_going = !!flight});
  if (o.verbose)
    std::fprintf(stderr, "hlrun: %llu exits\n",
                 static_cast<unsigned long long>(sandbox.exit_count()));
  if (flight && !flight->error()) return code != 0 ? code : kExitRecordingFailed;
  return recording ? finish_recording(code, *recording) : code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hlrr;
  CLI::App app{kDescription, "hlrun"};
  Options o;
  define_run_options(app, o);
  define_recording_options(app, o);
  define_debug_options(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  auto p = plan(app, o);
  if (!p) return fail(kExitUsage, p.error().message);
  auto image = vmm::ElfImage::read_file(o.guest_path);
  if (!image) return fail(kExitUsage, image.error().message);
  // The backend, decided before the guest runs: auto takes KVM only if it can run this guest.
  const auto selection = cli::select_vcpu(
      "hlrun", p->config.vcpu, image->needs_sse(),
      p->config.vcpu == vmm::VcpuKind::kUnicorn ? vmm::KvmCapability{} : vmm::probe_kvm());
  if (selection.exit_code != 0 || o.verbose) std::fprintf(stderr, "%s\n", selection.line.c_str());
  if (selection.exit_code != 0) return selection.exit_code;
  p->config.vcpu = selection.kind;
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(p->config));
  if (!sandbox) return fail(kExitUsage, sandbox.error().message);
  std::unique_ptr<recorder::Recorder> recording;
  if (!o.record_path.empty()) {
    auto started = start_recording(**sandbox, o);
    if (!started) return fail(kExitUsage, "--record: " + started.error().message);
    recording = std::move(*started);
  }
  if (!p->debug) return run_session(**sandbox, o, *p, recording.get());
  const int code =
      cli::run_under_debugger(**sandbox, o.guest_path, p->calls.front().function,
                              std::move(p->calls.front().args), *p->debug, o.core_path, o.verbose);
  return recording ? finish_recording(code, *recording) : code;
}
