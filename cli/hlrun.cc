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

}  // namespace

int main(int argc, char** argv) {
  using namespace hlrr;
  CLI::App app{
      "hlrun: run a function of a freestanding x86-64 guest ELF in an hlrr micro-VM.\n"
      "Prints what the guest prints, then `result: VALUE`. A guest fault prints one line\n"
      "and exits 1; bad arguments or an unloadable guest exit 2; a recording that fails\n"
      "after the calls ran (disk full) prints their outcome, then why, and exits 3.\n"
      "Several calls (--call repeated, --calls FILE) run in order in one sandbox and one\n"
      "recording, each printing `[N] result: VALUE`; the first that faults ends the session\n"
      "(later calls do not run) and hlrun exits 1. With --flight-recorder DIR the session\n"
      "goes on, and each failing call is kept in DIR as one trace (docs/recording.md).",
      "hlrun"};
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
  app.add_option("guest", guest_path, "guest ELF (built with the hlrr guest SDK)")->required();
  app.add_option("--call", call,
                 "FN [ARGS...]: guest function to call and its arguments (default: main).\n"
                 "42, -7, 0x2a are integers; s:TEXT forces a string; b:HEX is bytes.\n"
                 "Repeat it for a session of calls, run in order")
      ->expected(1, -1);
  app.add_option("--calls", calls_file,
                 "FILE: calls to run after any --call, one a line `FN ARGS...` (- : stdin)");
  app.add_flag("--fresh", fresh,
               "restore the state right after initialisation before each call of a session");
  app.add_option(
         "--vcpu", vcpu,
         "vCPU backend: auto (KVM where /dev/kvm is usable and can execute the guest; -v says "
         "which and why), kvm, unicorn")
      ->check(CLI::IsMember({"auto", "kvm", "unicorn"}))
      ->capture_default_str();
  app.add_option("--timeout", timeout_ms,
                 "per-call limit in milliseconds (0: none; at most a year)")
      ->check(CLI::Range(int64_t{0}, kMaxTimeoutMs))
      ->capture_default_str();
  app.add_option("--mem", memory, "guest memory size (e.g. 4M, 64M)")->capture_default_str();
  auto* record_opt =
      app.add_option("--record", record_path,
                     "record the run (initialisation and every call) into this trace file");
  app.add_flag("--embed-sources", embed_sources,
               "store the guest's source files (named by its DWARF) in the recording, for a "
               "debugger on a machine without them")
      ->needs(record_opt);
  app.add_flag("--record-memory", record_memory,
               "store the contents of changed memory pages in the recording's memory deltas "
               "(default: only their checksums, which is all replay needs)")
      ->needs(record_opt);
  app.add_option("--delta-every", delta_every,
                 "EXITS: a memory delta at least every EXITS exits (default 4096); with "
                 "--record-memory, replay can start from any of them")
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX))
      ->needs(record_opt);
  app.add_option("--core-on-fault", core_path,
                 "PATH: when a call faults, write an ELF core of the guest's faulting state "
                 "(gdb GUEST.elf PATH); under -g as the fault stops the guest");
  app.add_option(
      "--flight-recorder", flight_dir,
      "DIR: record every call into a bounded buffer and keep, as one trace in DIR, each\n"
      "call that faults, panics or times out (the session goes on after it)");
  app.add_option("--flight-before", flight_before,
                 "K: a kept trace also holds the K calls before the failing one")
      ->capture_default_str();
  app.add_option("--flight-buffer", flight_buffer,
                 "SIZE: the flight recorder's bound on buffered calls (e.g. 64M)")
      ->capture_default_str();
  app.add_option("-g", debug_port,
                 "PORT: wait for gdb/lldb on localhost:PORT (127.0.0.1 and ::1; 0: any port, "
                 "printed)");
  app.add_option("--listen", listen,
                 "ADDR:PORT: as -g, on this one address only (full control of the guest!)");
  app.add_flag("-v,--verbose", verbose,
               "say which backend runs the guest and how many exits it took");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  auto size = cli::parse_size(memory);
  if (!size) return fail(kExitUsage, "--mem: " + size.error().message);
  auto calls = cli::gather_calls(call, calls_file);
  if (!calls) return fail(kExitUsage, calls.error().message);

  vmm::SandboxConfig config;
  config.vcpu = *vmm::parse_vcpu_kind(vcpu);
  config.memory_size = *size;
  config.timeout = std::chrono::milliseconds(timeout_ms);
  vmm::add_standard_host_functions(config.host_functions);
  // Given but empty (`-g ""`, `--record ""`) is a mistake, not "not given".
  if (app.count("--record") > 0 && record_path.empty())
    return fail(kExitUsage, "--record: empty trace path");
  if (app.count("--core-on-fault") > 0 && core_path.empty())
    return fail(kExitUsage, "--core-on-fault: empty path");
  if (app.count("--flight-recorder") > 0 && flight_dir.empty())
    return fail(kExitUsage, "--flight-recorder: empty directory");
  auto flight_bytes = cli::parse_size(flight_buffer);
  if (!flight_bytes) return fail(kExitUsage, "--flight-buffer: " + flight_bytes.error().message);
  if (!flight_dir.empty() && !record_path.empty())
    return fail(kExitUsage, "--flight-recorder and --record: choose one");
  if (!flight_dir.empty() && (app.count("-g") > 0 || app.count("--listen") > 0))
    return fail(kExitUsage,
                "--flight-recorder runs without a debugger (debug a kept trace with "
                "hlreplay)");
  std::optional<cli::DebugListen> debug;
  if (app.count("-g") > 0 || app.count("--listen") > 0) {
    const bool g = app.count("--listen") == 0;
    auto where = cli::parse_listen(g ? debug_port : listen);
    if (!where) return fail(kExitUsage, (g ? "-g: " : "--listen: ") + where.error().message);
    debug = *where;
    // A debugger holds the guest stopped for as long as it likes: no limit unless asked for.
    if (app.count("--timeout") == 0) config.timeout = std::chrono::milliseconds(0);
  }
  auto image = vmm::ElfImage::read_file(guest_path);
  if (!image) return fail(kExitUsage, image.error().message);
  // The backend, decided before the guest runs: auto takes KVM only if it can run this guest.
  const auto selection = cli::select_vcpu(
      "hlrun", config.vcpu, image->needs_sse(),
      config.vcpu == vmm::VcpuKind::kUnicorn ? vmm::KvmCapability{} : vmm::probe_kvm());
  if (selection.exit_code != 0 || verbose) std::fprintf(stderr, "%s\n", selection.line.c_str());
  if (selection.exit_code != 0) return selection.exit_code;
  config.vcpu = selection.kind;
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(config));
  if (!sandbox) return fail(kExitUsage, sandbox.error().message);
  // Recording starts before the initialisation, so the trace holds the guest's whole life.
  std::unique_ptr<recorder::Recorder> recording;
  if (!record_path.empty()) {
    const std::string name = std::filesystem::path(guest_path).filename().string();
    recorder::RecordOptions options{
        .guest_name = name, .memory_contents = record_memory, .embed_sources = embed_sources};
    options.delta_every_exits = delta_every;
    options.notice = [](const std::string& line) {
      std::fprintf(stderr, "hlrun: --record: %s\n", line.c_str());
    };
    auto started = recorder::record_to(**sandbox, record_path, std::move(options));
    if (!started) return fail(kExitUsage, "--record: " + started.error().message);
    recording = std::move(*started);
    for (const auto& line : recording->warnings())
      std::fprintf(stderr, "hlrun: warning: %s\n", line.c_str());
  }
  if (debug) {
    if (calls->size() > 1)
      return fail(kExitUsage,
                  "-g debugs one call; record the session (--record) and debug the "
                  "recording with hlreplay");
    const int code =
        cli::run_under_debugger(**sandbox, guest_path, calls->front().function,
                                std::move(calls->front().args), *debug, core_path, verbose);
    if (recording) {
      if (auto st = recording->finish(); !st)
        return fail(code != 0 ? code : kExitRecordingFailed, "--record: " + st.error().message);
    }
    return code;
  }
  if (auto init = (*sandbox)->resume(); init.kind != vmm::RunOutcome::Kind::kReturned) {
    if (recording) (void)recording->finish();
    if (init.kind != vmm::RunOutcome::Kind::kFaulted)
      return fail(kExitUsage, "guest initialisation stopped unexpectedly");
    return fail(kExitUsage, init.fault.kind == vmm::FaultKind::kGuestError
                                ? init.fault.message  // as Sandbox::create() words it
                                : "guest initialisation failed: " + init.fault.to_string());
  }
  if (verbose)
    std::fprintf(stderr, "hlrun: vcpu backend: %s\n",
                 std::string((*sandbox)->vcpu().backend_name()).c_str());

  const std::string program = std::filesystem::path(guest_path).filename().string();
  std::unique_ptr<recorder::FlightRecorder> flight;
  if (!flight_dir.empty()) {
    recorder::FlightOptions options{.directory = flight_dir,
                                    .guest_name = program,
                                    .calls_before = flight_before,
                                    .max_buffer_bytes = *flight_bytes};
    options.notice = [](const std::string& line) {
      std::fprintf(stderr, "hlrun: flight recorder: %s\n", line.c_str());
    };
    auto started = recorder::flight_record(**sandbox, std::move(options));
    if (!started) return fail(kExitUsage, "--flight-recorder: " + started.error().message);
    flight = std::move(*started);
  }
  const int code = cli::run_calls(
      **sandbox, *calls,
      {.fresh = fresh, .core_on_fault = core_path, .program = program, .keep_going = !!flight});
  if (verbose)
    std::fprintf(stderr, "hlrun: %llu exits\n",
                 static_cast<unsigned long long>((*sandbox)->exit_count()));
  // The calls' outcomes are printed (run_calls) whatever becomes of the recording (disk full).
  if (flight && !flight->error()) return code != 0 ? code : kExitRecordingFailed;
  if (recording) {
    if (auto st = recording->finish(); !st)
      return fail(code != 0 ? code : kExitRecordingFailed, "--record: " + st.error().message);
  }
  return code;
}
