// hlrun: run a guest function in a micro-VM. Wiring only: parsing (CLI11) and Sandbox calls.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/call_arguments.h"
#include "cli/debug_session.h"
#include "recorder/recorder.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

namespace {

constexpr int kExitGuestFault = 1;
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
      "after the call ran (disk full) prints the call's outcome, then why, and exits 3.",
      "hlrun"};
  std::string guest_path;
  std::vector<std::string> call;
  std::string vcpu = "auto";
  int64_t timeout_ms = 10'000;
  std::string memory = "4M";
  bool verbose = false;
  std::string record_path;
  std::string debug_port, listen;
  app.add_option("guest", guest_path, "guest ELF (built with the hlrr guest SDK)")->required();
  app.add_option("--call", call,
                 "FN [ARGS...]: guest function to call and its arguments (default: main).\n"
                 "42, -7, 0x2a are integers; s:TEXT forces a string; b:HEX is bytes")
      ->expected(1, -1);
  app.add_option("--vcpu", vcpu, "vCPU backend: auto (KVM where /dev/kvm is usable), kvm, unicorn")
      ->check(CLI::IsMember({"auto", "kvm", "unicorn"}))
      ->capture_default_str();
  app.add_option("--timeout", timeout_ms,
                 "per-call limit in milliseconds (0: none; at most a year)")
      ->check(CLI::Range(int64_t{0}, kMaxTimeoutMs))
      ->capture_default_str();
  app.add_option("--mem", memory, "guest memory size (e.g. 4M, 64M)")->capture_default_str();
  app.add_option("--record", record_path,
                 "record the run (initialisation and call) into this trace file");
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
  const std::string function = call.empty() ? "main" : call.front();
  auto args = cli::parse_call_arguments(call.empty() ? std::vector<std::string>{}
                                                     : std::vector(call.begin() + 1, call.end()));
  if (!args) return fail(kExitUsage, args.error().message);

  vmm::SandboxConfig config;
  config.vcpu = *vmm::parse_vcpu_kind(vcpu);
  config.memory_size = *size;
  config.timeout = std::chrono::milliseconds(timeout_ms);
  vmm::add_standard_host_functions(config.host_functions);
  // Given but empty (`-g ""`, `--record ""`) is a mistake, not "not given".
  if (app.count("--record") > 0 && record_path.empty())
    return fail(kExitUsage, "--record: empty trace path");
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
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(config));
  if (!sandbox) return fail(kExitUsage, sandbox.error().message);
  // Recording starts before the initialisation, so the trace holds the guest's whole life.
  std::unique_ptr<recorder::Recorder> recording;
  if (!record_path.empty()) {
    const std::string name = std::filesystem::path(guest_path).filename().string();
    recorder::RecordOptions options{.guest_name = name};
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
    const int code =
        cli::run_under_debugger(**sandbox, guest_path, function, std::move(*args), *debug, verbose);
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

  auto result = (*sandbox)->call(function, *args);
  std::fflush(stdout);
  if (verbose)
    std::fprintf(stderr, "hlrun: %llu exits\n",
                 static_cast<unsigned long long>((*sandbox)->exit_count()));
  // The call's outcome is printed whatever became of its recording (disk full): it happened.
  const base::Status recorded = recording ? recording->finish() : base::Status{};
  int code = 0;
  if (result) {
    std::printf("result: %s\n", vmm::to_string(*result).c_str());
    std::fflush(stdout);
  } else if (result.error().kind == vmm::FaultKind::kGuestError) {
    // The guest refusing the call (unknown function, wrong arguments) is a usage error.
    code = fail(kExitUsage, result.error().to_string());
  } else {
    code = fail(kExitGuestFault, "guest fault: " + result.error().to_string());
  }
  if (!recorded)
    return fail(code != 0 ? code : kExitRecordingFailed, "--record: " + recorded.error().message);
  return code;
}
