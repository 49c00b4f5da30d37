// Benchmarks of the flight recorder (recorder::flight_record) on the software vCPU: 10,000 guest
// calls with the flight recorder attached against the same calls without it, the buffer's peak
// by its own accounting, and the time to write a kept trace.
//
//   flight_bench GUEST_DIR [--json] [--flight-runs N] [--only compute|fresh|chatty]
//                [--profile plain|flight]   (other benchmarks' flags are ignored)
//
// Made to give a trustworthy ratio on a shared, loaded machine: a plain and a recorded sandbox
// live side by side and take turns in blocks of calls (A B B A ...), each block timed in this
// thread's CPU time (what other processes do barely moves it) and in wall time. The ratio is
// the median over blocks of recorded/plain, each block against its neighbour, so a slow minute
// of the machine hits both sides alike. --profile runs one side only, for `perf record`.
#include <time.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include "bench/bench_table.h"
#include "bench/bench_util.h"
#include "recorder/flight_recorder.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

using namespace hlrr;

namespace {

constexpr int kCalls = 10'000;

using bench::die;

struct Workload {
  std::string key;  // --only
  std::string label;
  const vmm::ElfImage* image;
  std::string function;
  std::vector<vmm::Value> args;
  bool fresh = false;  // restore the post-initialisation snapshot before each call
  std::string goal;
};

double clock_ms(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// One sandbox making the workload's calls, with a flight recorder keeping into `dir` or not.
class Side {
 public:
  Side(const Workload& w, const std::string& dir) : w_(w) {
    vmm::SandboxConfig config;
    config.vcpu = vmm::VcpuKind::kUnicorn;
    config.timeout = std::chrono::milliseconds(0);
    config.output = [](std::string_view) {};
    vmm::add_standard_host_functions(config.host_functions);
    auto sandbox = vmm::Sandbox::create(*w.image, std::move(config));
    if (!sandbox) die(sandbox.error().message);
    sandbox_ = std::move(*sandbox);
    if (w.fresh) initialised_ = sandbox_->snapshot();
    if (dir.empty()) return;
    auto f = recorder::flight_record(*sandbox_, {.directory = dir, .calls_before = 2});
    if (!f) die(f.error().message);
    flight_ = std::move(*f);
  }

  // Makes `n` calls; returns {thread CPU ms, wall ms}.
  std::pair<double, double> calls(int n) {
    const double c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID), t0 = clock_ms(CLOCK_MONOTONIC);
    for (int i = 0; i < n; ++i) {
      if (initialised_) (void)sandbox_->restore(*initialised_);
      auto result = sandbox_->call(w_.function, w_.args);
      if (!result) die("guest fault: " + result.error().to_string());
    }
    return {clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0, clock_ms(CLOCK_MONOTONIC) - t0};
  }

  recorder::FlightRecorder* flight() { return flight_.get(); }

 private:
  const Workload& w_;
  std::unique_ptr<vmm::Sandbox> sandbox_;
  std::optional<vmm::Snapshot> initialised_;
  std::unique_ptr<recorder::FlightRecorder> flight_;
};

bench::Sample summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 9 / 10], v.size()};
}

struct Blocks {
  std::vector<double> plain_cpu, flight_cpu, plain_wall, flight_wall, ratio_cpu, ratio_wall;
};

// `runs` rounds of kCalls calls on each side, in blocks that alternate A B B A.
Blocks interleaved(Side& plain, Side& flight, size_t runs) {
  constexpr int kBlock = 500;
  plain.calls(kBlock);  // warm: translation caches, the recorder's buffers
  flight.calls(kBlock);
  Blocks b;
  for (size_t block = 0; block < runs * (kCalls / kBlock); ++block) {
    const bool plain_first = block % 2 == 0;
    std::pair<double, double> p, f;
    if (plain_first) p = plain.calls(kBlock);
    f = flight.calls(kBlock);
    if (!plain_first) p = plain.calls(kBlock);
    b.plain_cpu.push_back(p.first);
    b.flight_cpu.push_back(f.first);
    b.plain_wall.push_back(p.second);
    b.flight_wall.push_back(f.second);
    b.ratio_cpu.push_back(f.first / p.first);
    b.ratio_wall.push_back(f.second / p.second);
  }
  return b;
}

// Scales a block's median to the 10,000 calls the rows are about.
bench::Sample per_run(const std::vector<double>& blocks, size_t per) {
  bench::Sample s = summary(blocks);
  return {s.median * static_cast<double>(per), s.p90 * static_cast<double>(per), s.runs};
}

void overhead(bench::Table& table, const Workload& w, size_t runs, const std::string& dir,
              bool details) {
  Side plain(w, ""), recorded(w, dir);
  const Blocks b = interleaved(plain, recorded, runs);
  const size_t per = kCalls / 500;
  const bench::Sample rc = summary(b.ratio_cpu), rw = summary(b.ratio_wall);
  // The ratio column: the median of the blocks' paired ratios, not a ratio of medians.
  const auto spread = [&](const bench::Sample& r, const std::vector<double>& v) {
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    char text[160];
    std::snprintf(text, sizeof text, "%.3fx, middle half %.3f-%.3fx of %zu blocks", r.median,
                  sorted[sorted.size() / 4], sorted[sorted.size() * 3 / 4], sorted.size());
    return std::string(text);
  };
  table.add({"flight recorder: 10000x " + w.label, "ms", per_run(b.flight_cpu, per),
             "same calls, not recorded", per_run(b.plain_cpu, per),
             w.goal + " (thread cpu): " + spread(rc, b.ratio_cpu), rc.median});
  table.add({"  wall time of the same", "ms", per_run(b.flight_wall, per),
             "same calls, not recorded", per_run(b.plain_wall, per),
             "(wall: noisy when loaded) " + spread(rw, b.ratio_wall), rw.median});
  if (!details) return;
  recorder::FlightRecorder& f = *recorded.flight();
  const auto one = [](double v) { return bench::Sample{v, v, 1}; };
  table.add(
      {"flight recorder: buffer peak (K=2)",
       "KB",
       one(static_cast<double>(f.peak_buffered_bytes()) / 1024),
       "",
       {},
       "<= 65536 KB (the bound) + guest memory " + std::to_string(f.shadow_bytes() >> 10) + " KB"});
  std::vector<double> keep;
  for (size_t i = 0; i < std::max<size_t>(runs, 3); ++i) {
    recorded.calls(3);
    const double k0 = clock_ms(CLOCK_MONOTONIC);
    auto kept = f.keep_last_call("benchmark");
    if (!kept) die(kept.error().message);
    keep.push_back(clock_ms(CLOCK_MONOTONIC) - k0);
    std::filesystem::remove(kept->path);
  }
  table.add(
      {"flight recorder: write a kept trace", "ms", summary(keep), "", {}, "(3 calls, wall)"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: flight_bench GUEST_DIR [--json] [--flight-runs N] [--only WORKLOAD] "
                 "[--profile plain|flight]\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool json = false;
  size_t runs = 5;
  std::string only, profile;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    if (!std::strcmp(argv[i], "--flight-runs") && i + 1 < argc) runs = std::stoul(argv[++i]);
    if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    if (!std::strcmp(argv[i], "--profile") && i + 1 < argc) profile = argv[++i];
  }
  auto chatty = vmm::ElfImage::read_file(dir + "/chatty.elf");
  auto compute = vmm::ElfImage::read_file(dir + "/compute_release.elf");
  if (!chatty || !compute) die("cannot read the guests in " + dir);
  char tmp[] = "/tmp/hlrr-flight-bench-XXXXXX";
  const std::string kept = mkdtemp(tmp);

  const int64_t n = 100, seed = 7;
  const std::vector<Workload> workloads = {
      {"compute", "sort_hash(100, 7)", &*compute, "sort_hash", {n, seed}, false, "<= 1.05x"},
      {"fresh", "sort_hash(100, 7), --fresh", &*compute, "sort_hash", {n, seed}, true, "<= 1.05x"},
      {"chatty", "chatter(20)", &*chatty, "chatter", {int64_t{20}}, false, "<= 1.10x"},
  };
  bench::Table table;
  for (const Workload& w : workloads) {
    if (!only.empty() && w.key != only) continue;
    if (!profile.empty()) {
      Side side(w, profile == "flight" ? kept : "");
      side.calls(static_cast<int>(runs) * kCalls);
      continue;
    }
    overhead(table, w, runs, kept, w.key == "chatty");
  }
  if (profile.empty()) table.print(json);
  std::filesystem::remove_all(kept);
  return 0;
}
