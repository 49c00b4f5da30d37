// Benchmarks of replay and reverse execution, on a recording of compute_release's sort_hash made
// on the software vCPU: by default n = 2,500,000 in a 64 MiB guest (~1.2 * 10^9 instructions);
// with --long n = 20,000,000 in a 128 MiB guest (~10^10, several minutes).
//  - forward replay (ReplaySession::run_to_end) beside the same call run plainly;
//  - the first forward pass under the debugger (`hlreplay -g`, a raw RSP client's `c`) beside
//    the plain run (goal <= 1.1x): --rounds pairs (default 3), each a plain run then a first
//    pass in a new hlreplay, the median of their ratios (on a shared machine, runs of the same
//    work minutes apart differ by more than the gap measured);
//  - reverse-stepi (`bs`) round trips at random points (goal p50 <= 5 ms, p99 <= 20 ms), the
//    points visited in ascending order: a step back replays from the recent checkpoints that
//    the seek to its point left just before it, whatever order the points come in, so the
//    steps measure the same; the seeks that set them up then cost one forward pass in all,
//    where in random order each replays from a kept checkpoint, which at 10^10 instructions in
//    a 128 MiB guest are billions of instructions apart;
//  - what such a seek costs: `monitor seek-icount` to a few points in random order (--seeks);
//  - reverse-continue (`bc`) from the end: with no break- or watchpoint set, to the start (goal
//    <= 0.1 s); to a breakpoint near the start, hl_alloc (goal <= 1 s); to a write watchpoint on
//    a global written only while the guest initialises (goal <= 1 s);
//  - hlreplay's peak memory (VmHWM) at the end (goal <= 512 MiB).
// With --trace FILE, the same rows on that recording instead (e.g. one of a real guest: Lua),
// against its forward replay; the breakpoint and watchpoint rows need compute's symbols, taken
// from the ELF embedded in the recording when its guest is compute or compute_release.
//
//   replay_bench GUEST_DIR [--json] [--long] [--n N] [--points P] [--seeks S] [--rounds R]
//                [--trace FILE]
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_table.h"
#include "bench/bench_util.h"
#include "bench/rsp_client.h"
#include "recorder/recorder.h"
#include "replay/replay_session.h"
#include "vmm/sandbox.h"

using namespace hlrr;

namespace {

using bench::die;
using bench::seconds_since;
using bench::thread_cpu_seconds;

// A whole other process's CPU seconds (user + system, from /proc/PID/stat).
double process_cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

using hlrr::bench::Row;
using hlrr::bench::RspClient;

struct Options {
  std::string guest_dir;
  bool json = false;
  int64_t n = 2'500'000;
  uint64_t memory = 64ull << 20;
  size_t points = 200;
  size_t seeks = 3;   // random-order seeks timed (each may replay billions of instructions)
  size_t rounds = 3;  // pairs of a plain run (or forward replay) and a first pass (--long: 1)
  std::string trace;  // an existing recording to measure instead of sort_hash's
};

Options parse(int argc, char** argv) {
  if (argc < 2) {
    die("usage: replay_bench GUEST_DIR [--json] [--long] [--n N] [--points P] [--seeks S] "
        "[--rounds R] [--trace FILE]");
  }
  Options o{.guest_dir = argv[1]};
  bool long_run = false;
  std::optional<size_t> rounds;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) o.json = true;
    if (std::strcmp(argv[i], "--long") == 0) {
      o.n = 20'000'000;
      o.memory = 128ull << 20;
      long_run = true;
    }
    if (std::strcmp(argv[i], "--n") == 0 && i + 1 < argc) o.n = std::stoll(argv[++i]);
    if (std::strcmp(argv[i], "--points") == 0 && i + 1 < argc) o.points = std::stoul(argv[++i]);
    if (std::strcmp(argv[i], "--seeks") == 0 && i + 1 < argc) o.seeks = std::stoul(argv[++i]);
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::stoul(argv[++i]);
    if (std::strcmp(argv[i], "--trace") == 0 && i + 1 < argc) o.trace = argv[++i];
  }
  // At 10^10 a round takes ~10 minutes: one, unless asked.
  o.rounds = rounds.value_or(long_run ? 1 : 3);
  if (o.rounds == 0) die("--rounds must be at least 1");
  return o;
}

vmm::SandboxConfig config(const Options& o) {
  vmm::SandboxConfig c;
  c.vcpu = vmm::VcpuKind::kUnicorn;
  c.timeout = std::chrono::milliseconds(0);
  c.memory_size = o.memory;
  c.output = [](std::string_view) {};
  return c;
}

Row single(const std::string& name, const std::string& unit, double value,
           const std::string& goal) {
  return {name, unit, {value, value, 1}, "", {}, goal};
}

struct Plain {
  double wall = 0;  // seconds
  double cpu = 0;
};

// The call run plainly on the software vCPU: the first pass's yardstick.
Plain run_plain(const vmm::ElfImage& image, const Options& o) {
  auto plain = vmm::Sandbox::create(image, config(o));
  if (!plain) die(plain.error().message);
  auto t0 = std::chrono::steady_clock::now();
  const double c0 = thread_cpu_seconds();
  const std::vector<vmm::Value> args = {o.n, int64_t{1}};
  if (!(*plain)->call("sort_hash", args)) die("sort_hash failed");
  return {seconds_since(t0), thread_cpu_seconds() - c0};
}

// The call recorded into `trace`.
void record(const vmm::ElfImage& image, const Options& o, const std::string& trace) {
  auto sandbox = vmm::Sandbox::load(image, config(o));
  if (!sandbox) die(sandbox.error().message);
  auto rec = recorder::record_to(**sandbox, trace, {.guest_name = "compute_release.elf"});
  if (!rec) die(rec.error().message);
  if ((*sandbox)->resume().kind != vmm::RunOutcome::Kind::kReturned) die("init");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<vmm::Value> args = {o.n, int64_t{1}};
  if (!(*sandbox)->call("sort_hash", args)) die("sort_hash failed while recording");
  std::fprintf(stderr, "replay_bench: recorded sort_hash(%lld) in %.2f s\n",
               static_cast<long long>(o.n), seconds_since(t0));
  if (auto st = (*rec)->finish(); !st) die(st.error().message);
}

// The recording replayed to its end in this process; `total` is set to its instruction count.
Plain run_replay(const std::string& trace, uint64_t* total = nullptr) {
  auto session = replay::ReplaySession::open(trace);
  if (!session) die(session.error().message);
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = thread_cpu_seconds();
  if ((*session)->run_to_end() != replay::StopKind::kEnd) die((*session)->divergence());
  const Plain replay{seconds_since(t0), thread_cpu_seconds() - c0};
  if (total) *total = (*session)->instruction_count();
  return replay;
}

// `hlreplay TRACE -g 0` in the background: its pid and port.
struct Served {
  FILE* pipe = nullptr;
  pid_t pid = 0;
  uint16_t port = 0;
};

Served serve(const std::string& hlreplay, const std::string& trace) {
  Served s;
  s.pipe = ::popen(("sh -c 'echo $$; exec " + hlreplay + " " + trace + " -g 0' 2>&1").c_str(), "r");
  char line[512] = {};
  if (!s.pipe || !std::fgets(line, sizeof line, s.pipe)) die("cannot start " + hlreplay);
  s.pid = std::atoi(line);
  if (!std::fgets(line, sizeof line, s.pipe)) die("hlreplay did not start");
  const std::string text = line;
  const auto at = text.rfind("127.0.0.1:");
  if (at == std::string::npos) die("hlreplay: " + text);
  s.port = static_cast<uint16_t>(std::atoi(text.c_str() + at + 10));
  return s;
}

double peak_mib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kib = 0;
      status >> kib;
      return kib / 1024;
    }
  }
  return 0;
}

// `points` random instruction counts in [1, total), ascending.
std::vector<uint64_t> random_points(uint64_t total, size_t points) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> at(points);
  for (uint64_t& n : at) n = 1 + rng() % (total - 1);
  std::sort(at.begin(), at.end());
  return at;
}

// Where hlreplay's memory is at the end of the rows, on stderr: /proc/PID/status's Vm and Rss
// lines.
void print_memory(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Vm", 0) == 0 || line.rfind("Rss", 0) == 0) {
      std::fprintf(stderr, "replay_bench: hlreplay %s\n", line.c_str());
    }
  }
}

// Reverse-stepi round trips at random points, visited in ascending order: {p50, p99} in ms.
bench::Sample reverse_steps(RspClient& client, uint64_t total, size_t points) {
  std::vector<double> ms;
  for (const uint64_t n : random_points(total, points)) {
    client.monitor("seek-icount " + std::to_string(n));
    const auto s0 = std::chrono::steady_clock::now();
    if (client.request("bs")[0] != 'T') die("bs");
    ms.push_back(seconds_since(s0) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.size()};
}

// `monitor seek-icount` to `seeks` random points in random order: {p50, max} of hlreplay's CPU
// seconds.
bench::Sample random_seeks(RspClient& client, pid_t server, uint64_t total, size_t seeks) {
  std::mt19937_64 rng(7);
  std::vector<double> cpu;
  for (size_t i = 0; i < seeks; ++i) {
    const double c0 = process_cpu_seconds(server);
    client.monitor("seek-icount " + std::to_string(1 + rng() % (total - 1)));
    cpu.push_back(process_cpu_seconds(server) - c0);
  }
  std::sort(cpu.begin(), cpu.end());
  return {cpu[cpu.size() / 2], cpu.back(), cpu.size()};
}

// From the end, `bc` with the point `z` (empty: none) set: hlreplay's CPU seconds (wall seconds
// in `wall`); `expect` in the stop reply.
double reverse_continue(RspClient& client, pid_t server, uint64_t total, const std::string& z,
                        const std::string& expect, double& wall) {
  client.monitor("seek-icount " + std::to_string(total));
  if (!z.empty() && client.request("Z" + z) != "OK") die("Z" + z);
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = process_cpu_seconds(server);
  const std::string stop = client.request("bc");
  const double cpu = process_cpu_seconds(server) - c0;
  wall = seconds_since(t0);
  if (stop.find(expect) == std::string::npos) die("bc did not stop at " + expect + ": " + stop);
  if (!z.empty() && client.request("z" + z) != "OK") die("z" + z);
  return cpu;
}

std::string hex(uint64_t v) {
  char text[32];
  std::snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(v));
  return text;
}

// hlreplay's first pass: `c` from the start to the end of the recording.
Plain first_pass(RspClient& client, pid_t pid) {
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = process_cpu_seconds(pid);
  if (client.request("c").find("replaylog:end") == std::string::npos) die("forward to the end");
  return {seconds_since(t0), process_cpu_seconds(pid) - c0};
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The first pass against its yardstick over `rounds` pairs, each the yardstick then a first pass
// in a new hlreplay; the last pass is on `last`, whose process the later rows go on with.
// Medians of each, and the median of the paired ratios.
Row first_pass_row(const std::function<Plain()>& yardstick, const std::string& yardstick_name,
                   const std::string& hlreplay, const std::string& trace, size_t rounds,
                   RspClient& last, pid_t last_pid) {
  std::vector<double> base_cpu, base_wall, pass_cpu, pass_wall, ratios;
  for (size_t round = 0; round < rounds; ++round) {
    const Plain base = yardstick();
    Plain pass;
    if (round + 1 == rounds) {
      pass = first_pass(last, last_pid);
    } else {
      Served served = serve(hlreplay, trace);
      {
        RspClient client(served.port);
        pass = first_pass(client, served.pid);
        client.send("k");
      }
      ::pclose(served.pipe);
    }
    std::fprintf(stderr, "replay_bench: round %zu: %s %.2f s CPU, first pass %.2f s CPU\n",
                 round + 1, yardstick_name.c_str(), base.cpu, pass.cpu);
    base_cpu.push_back(base.cpu);
    base_wall.push_back(base.wall);
    pass_cpu.push_back(pass.cpu);
    pass_wall.push_back(pass.wall);
    ratios.push_back(pass.cpu / base.cpu);
  }
  return {"first forward pass under the debugger (CPU s; p90 = wall)",
          "s",
          {median(pass_cpu), median(pass_wall), rounds},
          yardstick_name + " (CPU)",
          {median(base_cpu), median(base_wall), rounds},
          "<= 1.1x plain (median of paired ratios)",
          median(ratios)};
}

// Rows in hlreplay's CPU seconds (its wall seconds in the p90 column): on a shared machine the
// wall clock says more about the other jobs than about replay.
// `image`: compute's, for the breakpoint and watchpoint rows (none: without them); `yardstick`
// runs the plain call when there is one, else the recording's forward replay.
void debugger_rows(bench::Table& table, const std::string& hlreplay, const std::string& trace,
                   const vmm::ElfImage* image, const Options& o, uint64_t total,
                   const std::function<Plain()>& yardstick, const std::string& yardstick_name) {
  std::optional<uint64_t> alloc, watched;
  if (image) {
    alloc = image->symbols().address_of("hl_alloc");
    watched = image->symbols().address_of("g_function_count");
    if (!alloc || !watched) die("no hl_alloc or g_function_count symbol");
  }
  Served served = serve(hlreplay, trace);
  double memory = 0;
  {
    RspClient client(served.port);
    const Row pass =
        first_pass_row(yardstick, yardstick_name, hlreplay, trace, o.rounds, client, served.pid);
    table.add(pass);
    // Of which hlreplay's own count of the CPU taking checkpoints (copies, pool growth,
    // thinning); the rest beyond the replay is mostly the dirty-page write hook.
    const std::string stats = client.monitor_output("checkpoints");
    const std::string key = "taking checkpoints: ";
    const auto at = stats.find(key);
    if (at == std::string::npos) die("monitor checkpoints: " + stats);
    const double taking = std::stod(stats.substr(at + key.size()));
    table.add({"  of which taking checkpoints (hlreplay's count, CPU s)",
               "s",
               {taking, taking, 1},
               pass.floor_name,
               pass.floor,
               "(reported)"});
    const bench::Sample steps = reverse_steps(client, total, o.points);
    table.add({"reverse-stepi at random points, ascending (p50/p99)",
               "ms",
               steps,
               "",
               {},
               "p50 <= 5 ms, p99 <= 20 ms (p90 column = p99)"});
    if (o.seeks > 0) {
      table.add({"seek-icount to random points, random order (CPU s; p90 = max)",
                 "s",
                 random_seeks(client, served.pid, total, o.seeks),
                 "",
                 {},
                 "(reported)"});
    }
    const auto row = [&](const std::string& name, const std::string& z, const std::string& expect,
                         const std::string& goal) {
      double wall = 0;
      const double cpu = reverse_continue(client, served.pid, total, z, expect, wall);
      table.add({name + " (CPU s; p90 = wall)", "s", {cpu, wall, 1}, "", {}, goal});
    };
    row("reverse-continue, nothing set, to the start", "", "replaylog:begin", "<= 0.1 s");
    if (image) {
      row("reverse-continue, breakpoint near the start", "0," + hex(*alloc) + ",1", "swbreak",
          "<= 1 s");
      row("reverse-continue, watchpoint, end to init", "2," + hex(*watched) + ",4",
          "watch:", "<= 1 s");
    }
    memory = peak_mib(served.pid);
    print_memory(served.pid);
    client.send("k");
  }
  ::pclose(served.pipe);
  table.add(single("hlreplay peak memory (VmHWM)", "MiB", memory, "<= 512 MiB"));
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::string hlreplay = o.guest_dir + "/../cli/hlreplay";
  if (!std::filesystem::exists(hlreplay)) die("no " + hlreplay);
  char dir[] = "/tmp/hlrr-replay-bench-XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp");
  std::optional<vmm::ElfImage> image;  // compute_release's, unless --trace
  std::string trace = o.trace;
  Plain plain;
  if (trace.empty()) {
    // The release profile (-O2): the benchmarks measure hlrr on optimised guest code.
    auto read = vmm::ElfImage::read_file(o.guest_dir + "/compute_release.elf");
    if (!read) die(read.error().message);
    image.emplace(std::move(*read));
    trace = std::string(dir) + "/sort.cap";
    plain = run_plain(*image, o);
    record(*image, o, trace);
  }
  if (!image) {
    // A recording of compute: its embedded ELF has the symbols the breakpoint and watchpoint
    // rows need.
    auto session = replay::ReplaySession::open(trace);
    if (!session) die(session.error().message);
    const std::string guest = std::filesystem::path((*session)->setup().guest_name).stem();
    if (guest == "compute" || guest == "compute_release") image = (*session)->image();
  }
  uint64_t total = 0;
  const Plain replay = run_replay(trace, &total);
  std::fprintf(stderr,
               "replay_bench: %llu instructions: plain %.2f s (%.2f s CPU), replay %.2f s (%.2f s "
               "CPU)\n",
               static_cast<unsigned long long>(total), plain.wall, plain.cpu, replay.wall,
               replay.cpu);

  bench::Table table;
  const bool recorded_here = o.trace.empty();  // else no plain run to compare with
  if (recorded_here) {
    table.add({"forward replay, " + std::to_string(total / 1'000'000) +
                   "M instructions (CPU s; p90 = wall)",
               "s",
               {replay.cpu, replay.wall, 1},
               "plain software-vCPU run of the call (CPU)",
               {plain.cpu, plain.wall, 1},
               "<= 2x (replay >= 0.5x plain)"});
  }
  // With --trace the forward replay just measured is the first round's (at 10^10 it takes
  // minutes); the plain run was measured before the recording, so it is run again.
  std::optional<Plain> measured;
  if (!recorded_here) measured = replay;
  const std::function<Plain()> yardstick = [&] {
    if (measured) return std::exchange(measured, std::nullopt).value();
    return recorded_here ? run_plain(*image, o) : run_replay(trace);
  };
  debugger_rows(table, hlreplay, trace, image ? &*image : nullptr, o, total, yardstick,
                recorded_here ? "plain software-vCPU run of the call" : "forward replay");
  std::filesystem::remove_all(dir);
  table.print(o.json);
  return 0;
}
