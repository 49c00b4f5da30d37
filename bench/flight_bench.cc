// Benchmarks of the flight recorder (recorder::flight_record) on the software vCPU: 10,000 guest
// calls in one sandbox with the flight recorder attached against the same calls without it, the
// buffer's peak by its own accounting, and the time to write a kept trace.
//
//   flight_bench GUEST_DIR [--json] [--flight-runs N]   (other benchmarks' flags are ignored)
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "bench/bench_table.h"
#include "recorder/flight_recorder.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

using namespace hlrr;

namespace {

constexpr int kCalls = 10'000;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "flight_bench: %s\n", message.c_str());
  std::exit(2);
}

struct Workload {
  std::string label;
  const vmm::ElfImage* image;
  std::string function;
  std::vector<vmm::Value> args;
  bool fresh = false;  // restore the post-initialisation snapshot before each call
};

double cpu_ms() {  // user + system time of the process: the calls run on this thread only
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

struct Run {
  double ms = 0;            // the 10,000 calls
  double cpu = 0;           // their CPU time: steadier than wall time on a loaded machine
  uint64_t peak_bytes = 0;  // the flight recorder's buffer at most
  uint64_t shadow_bytes = 0;
  double keep_ms = 0;  // keep_last_call() after the last call
};

// One sandbox, 10,000 calls of `w`, with a flight recorder keeping into `dir` or not ("").
Run run(const Workload& w, const std::string& dir) {
  vmm::SandboxConfig config;
  config.vcpu = vmm::VcpuKind::kUnicorn;
  config.timeout = std::chrono::milliseconds(0);
  config.output = [](std::string_view) {};
  vmm::add_standard_host_functions(config.host_functions);
  auto sandbox = vmm::Sandbox::create(*w.image, std::move(config));
  if (!sandbox) die(sandbox.error().message);
  std::optional<vmm::Snapshot> initialised;
  if (w.fresh) initialised = (*sandbox)->snapshot();
  std::unique_ptr<recorder::FlightRecorder> flight;
  if (!dir.empty()) {
    auto f = recorder::flight_record(**sandbox, {.directory = dir, .calls_before = 2});
    if (!f) die(f.error().message);
    flight = std::move(*f);
  }
  const double c0 = cpu_ms();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    if (initialised) (void)(*sandbox)->restore(*initialised);
    auto result = (*sandbox)->call(w.function, w.args);
    if (!result) die("guest fault: " + result.error().to_string());
  }
  Run r;
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.cpu = cpu_ms() - c0;
  if (!flight) return r;
  r.peak_bytes = flight->peak_buffered_bytes();
  r.shadow_bytes = flight->shadow_bytes();
  const auto k0 = std::chrono::steady_clock::now();
  auto kept = flight->keep_last_call("benchmark");
  if (!kept) die(kept.error().message);
  r.keep_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - k0).count();
  std::filesystem::remove(kept->path);
  return r;
}

bench::Sample median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 9 / 10], v.size()};
}

// Plain and flight-recorded runs interleaved (drift on a shared machine hits both alike).
void overhead(bench::Table& table, const Workload& w, size_t runs, const std::string& dir,
              const std::string& goal, bool details) {
  std::vector<double> plain, flight, plain_cpu, flight_cpu, keep;
  uint64_t peak = 0, shadow = 0;
  run(w, "");  // warm caches
  for (size_t i = 0; i < runs; ++i) {
    const Run p = run(w, "");
    const Run r = run(w, dir);
    plain.push_back(p.ms);
    plain_cpu.push_back(p.cpu);
    flight.push_back(r.ms);
    flight_cpu.push_back(r.cpu);
    keep.push_back(r.keep_ms);
    peak = std::max(peak, r.peak_bytes);
    shadow = r.shadow_bytes;
  }
  table.add({"flight recorder: 10000x " + w.label, "ms", median(flight_cpu),
             "same calls, not recorded", median(plain_cpu), goal + " (cpu)"});
  table.add({"  wall time of the same", "ms", median(flight), "same calls, not recorded",
             median(plain), "(wall: noisy on a shared machine)"});
  if (!details) return;
  const auto one = [](double v) { return bench::Sample{v, v, 1}; };
  table.add({"flight recorder: buffer peak (K=2)",
             "KB",
             one(static_cast<double>(peak) / 1024),
             "",
             {},
             "<= 65536 KB (the bound) + guest memory " + std::to_string(shadow >> 10) + " KB"});
  table.add({"flight recorder: write a kept trace", "ms", median(keep), "", {}, "(3 calls)"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: flight_bench GUEST_DIR [--json] [--flight-runs N]\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool json = false;
  size_t runs = 3;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    if (!std::strcmp(argv[i], "--flight-runs") && i + 1 < argc) runs = std::stoul(argv[++i]);
  }
  auto chatty = vmm::ElfImage::read_file(dir + "/chatty.elf");
  auto compute = vmm::ElfImage::read_file(dir + "/compute_release.elf");
  if (!chatty || !compute) die("cannot read the guests in " + dir);
  char tmp[] = "/tmp/hlrr-flight-bench-XXXXXX";
  const std::string kept = mkdtemp(tmp);

  bench::Table table;
  const int64_t n = 100, seed = 7;
  overhead(table, {"sort_hash(100, 7)", &*compute, "sort_hash", {n, seed}}, runs, kept, "<= 1.05x",
           false);
  overhead(table, {"sort_hash(100, 7), --fresh", &*compute, "sort_hash", {n, seed}, true}, runs,
           kept, "<= 1.05x", false);
  overhead(table, {"chatter(20)", &*chatty, "chatter", {int64_t{20}}}, runs, kept, "<= 1.10x",
           true);
  table.print(json);
  std::filesystem::remove_all(kept);
  return 0;
}
