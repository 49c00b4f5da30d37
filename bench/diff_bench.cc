// Benchmark of `hltrace diff --replay` (issue 13): the command as a user runs it, against a
// plain replay of the same two traces (`hlreplay --check` of each), on recordings of compute:
//  - "part at once": sort_hash(N, 7) against sort_hash(N, 8): the executions part a few
//    instructions into the call, so the lock step is short and most of the time is opening
//    and replaying up to the call;
//  - "after five calls": five sort_hash(N, 7) calls, then fib(40) against fib(41): both replays run
//  the
//    five common calls before the lock step starts, at plain replay speed.
// Pairs run interleaved (diff, then both replays), medians of wall time and of the children's
// CPU time.
//
//   diff_bench GUEST_DIR TOOLS_DIR [--json] [--diff-runs N]   (other flags are ignored)
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_table.h"
#include "bench/bench_util.h"

using namespace hlrr;

namespace {

using bench::die;

struct Cost {
  double wall_ms = 0;
  double cpu_ms = 0;  // of the children
};

double children_cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Runs `command` (output discarded); its exit code must be one of `ok`.
Cost run(const std::string& command, std::initializer_list<int> ok) {
  const double c0 = children_cpu_ms(), t0 = now_ms();
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  const Cost cost{now_ms() - t0, children_cpu_ms() - c0};
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (std::find(ok.begin(), ok.end(), code) == ok.end())
    die("`" + command + "` exited " + std::to_string(code));
  return cost;
}

bench::Sample summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 9 / 10], v.size()};
}

struct Case {
  std::string label;
  std::string calls_a, calls_b;  // hlrun's --call arguments
};

void measure(bench::Table& table, const Case& c, const std::string& tools,
             const std::string& guests, const std::string& dir, size_t runs) {
  const std::string a = dir + "/a.cap", b = dir + "/b.cap";
  const std::string hlrun = tools + "/hlrun " + guests + "/compute_release.elf --vcpu unicorn ";
  run(hlrun + c.calls_a + " --record " + a, {0});
  run(hlrun + c.calls_b + " --record " + b, {0});
  const std::string diff = tools + "/hltrace diff --replay " + a + " " + b;
  const std::string check = tools + "/hlreplay --check ";
  std::vector<double> diff_wall, diff_cpu, plain_wall, plain_cpu, ratio;
  run(diff, {1});  // warm the page cache
  for (size_t i = 0; i < runs; ++i) {
    const Cost d = run(diff, {1});
    const Cost pa = run(check + a, {0}), pb = run(check + b, {0});
    diff_wall.push_back(d.wall_ms);
    diff_cpu.push_back(d.cpu_ms);
    plain_wall.push_back(pa.wall_ms + pb.wall_ms);
    plain_cpu.push_back(pa.cpu_ms + pb.cpu_ms);
    ratio.push_back(d.cpu_ms / (pa.cpu_ms + pb.cpu_ms));
  }
  table.add({"hltrace diff --replay: " + c.label, "ms", summary(diff_cpu),
             "hlreplay --check of both", summary(plain_cpu), "(cpu; median of paired ratios)",
             summary(ratio).median});
  table.add({"  wall time of the same", "ms", summary(diff_wall), "hlreplay --check of both",
             summary(plain_wall), "(wall)"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: diff_bench GUEST_DIR TOOLS_DIR [--json] [--diff-runs N]\n");
    return 2;
  }
  const std::string guests = argv[1], tools = argv[2];
  bool json = false;
  size_t runs = 5;
  for (int i = 3; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    if (!std::strcmp(argv[i], "--diff-runs") && i + 1 < argc) runs = std::stoul(argv[++i]);
  }
  char tmp[] = "/tmp/hlrr-diff-bench-XXXXXX";
  const std::string dir = mkdtemp(tmp);
  const std::string sort = "--call sort_hash 20000 7 ";
  std::string common;
  for (int i = 0; i < 5; ++i) common += sort;
  const std::vector<Case> cases = {
      {"sort_hash(20000, 7 / 8): part at once", sort, "--call sort_hash 20000 8"},
      {"5x sort_hash(20000, 7), then fib(40 / 41)", common + "--call fib 40",
       common + "--call fib 41"},
  };
  bench::Table table;
  for (const Case& c : cases) measure(table, c, tools, guests, dir, runs);
  table.print(json);
  std::filesystem::remove_all(dir);
  return 0;
}
