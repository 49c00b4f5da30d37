// Benchmarks of real guests (guest/real/, built -O2 as lua_release and zlib_release) on the
// software vCPU, one run each (the workloads take tens of seconds):
//  - guest time as a ratio to the same library natively on the host (liblua5.4, zlib);
//  - recording overhead: the call recorded beside the same call run plainly (goal <= 1.05x),
//    and counted directly ("record, counted"): the recorded and the plain run execute the same
//    instructions and exits on the same vCPU (the software vCPU's recorder tracks pages by
//    comparing, with no write hook), so recording adds only the recorder's own CPU time: its
//    callbacks on the vCPU thread, finish(), and the trace writer's thread;
//  - `hlreplay TRACE --check` (the process: open, replay to the end, compare) beside the plain
//    run (goal: speed >= 0.9x, i.e. time <= 1.11x);
//  - trace bytes per 10^6 guest instructions (the count is hlreplay --check's).
// Workloads: a Lua script of table, arithmetic and string work (~1.2 * 10^9 instructions at the
// default --lua-loops) and zlib's deflate_pattern over --zlib-mib MiB (default 16).
//
// On a shared, loaded machine one run of each says little (CPU time itself swings by 10-20%
// from minute to minute with the neighbours' cache and memory traffic). So each workload runs
// --rounds rounds (default 3) of plain, recorded and checked runs, interleaved with the order
// reversed every other round (P R C, C R P, ...); a ratio is the median of the rounds' paired
// ratios (each round's recorded or checked run against that round's plain run), printed with
// the lowest and highest of them; times are the medians.
//
//   real_guests_bench GUEST_DIR [--json] [--lua-loops N] [--zlib-mib N] [--rounds N]
//                     [--only lua|zlib]
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_table.h"
#include "bench/bench_util.h"
#include "recorder/recorder.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

using namespace hlrr;

namespace {

using bench::die;
// Wall and CPU seconds of one run. CPU time (user + system) is steadier than wall time on a
// shared machine; for recording it charges the writer thread's work too, and for hlreplay the
// child process's.
struct Timing {
  double wall = 0;
  double cpu = 0;
  double thread_cpu = 0;  // the calling thread's alone (the vCPU's; the process's has the writer)
  // Recorded runs: the recorder's own CPU time (its callbacks on the vCPU thread, finish(), and
  // every other thread of the process: the trace writer's compression and writes).
  double recorder_cpu = 0;
  // Not counted in it: the sandbox reads the registers for the recorder at each of these (~1 us).
  uint64_t exits = 0, nondet = 0;
};

using bench::thread_cpu_seconds;

// Passes everything to the recorder, counting the vCPU thread's CPU time spent in it. The
// recorded and the plain run execute the same guest instructions and exits on the same vCPU, so
// what recording adds is this time plus the writer thread's: counted directly, it does not
// drown in the noise of comparing two separate runs on a shared machine.
class TimedObserver final : public vmm::ExitObserver {
 public:
  explicit TimedObserver(vmm::ExitObserver& inner) : inner_(inner) {}
  double seconds() const { return seconds_; }

  void on_call_start(std::string_view function, std::span<const vmm::Value> args,
                     const vmm::RegisterFile& registers,
                     std::span<const vmm::HostWrite> writes) override {
    timed([&] { inner_.on_call_start(function, args, registers, writes); });
  }
  void on_exit(const vmm::VcpuExit& exit, const vmm::RegisterFile& registers,
               std::span<const vmm::HostWrite> writes) override {
    timed([&] { inner_.on_exit(exit, registers, writes); });
  }
  void on_nondet(vmm::NondetInstruction kind, uint64_t rip, uint64_t value,
                 uint64_t extra) override {
    timed([&] { inner_.on_nondet(kind, rip, value, extra); });
  }
  base::Status on_debugger_write(const vmm::HostWrite* write) override {
    return inner_.on_debugger_write(write);
  }
  void on_call_end(const base::Expected<vmm::Value, vmm::Fault>& result) override {
    timed([&] { inner_.on_call_end(result); });
  }

 private:
  template <typename F>
  void timed(F&& f) {
    const double t0 = thread_cpu_seconds();
    f();
    seconds_ += thread_cpu_seconds() - t0;
  }
  vmm::ExitObserver& inner_;
  double seconds_ = 0;
};

double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  const auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

class Stopwatch {
 public:
  explicit Stopwatch(int who = RUSAGE_SELF)
      : who_(who), cpu0_(cpu_seconds(who)), thread0_(cpu_seconds(RUSAGE_THREAD)) {}
  Timing read() const {
    return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(),
            cpu_seconds(who_) - cpu0_, cpu_seconds(RUSAGE_THREAD) - thread0_};
  }

 private:
  int who_;
  double cpu0_;
  double thread0_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

struct Options {
  std::string guest_dir;
  bool json = false;
  int64_t lua_loops = 2'000'000;
  int64_t zlib_mib = 16;
  int rounds = 3;
  std::string only;  // "lua" or "zlib": that workload alone
};

Options parse(int argc, char** argv) {
  if (argc < 2)
    die("usage: real_guests_bench GUEST_DIR [--json] [--lua-loops N] [--zlib-mib N] [--rounds N]");
  Options o{.guest_dir = argv[1]};
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) o.json = true;
    if (std::strcmp(argv[i], "--lua-loops") == 0 && i + 1 < argc) {
      o.lua_loops = std::stoll(argv[++i]);
    }
    if (std::strcmp(argv[i], "--zlib-mib") == 0 && i + 1 < argc) o.zlib_mib = std::stoll(argv[++i]);
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) o.only = argv[++i];
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      o.rounds = std::max(1, std::stoi(argv[++i]));
    }
  }
  return o;
}

// The Lua workload: a table used as a ring, integer arithmetic, then formatting, sorting and
// concatenating strings.
std::string lua_script(int64_t loops) {
  return "local t, s = {}, 0\n"
         "for i = 1, " +
         std::to_string(loops) +
         " do t[i % 1000 + 1] = i * 3 % 7; s = s + (t[(i * 7) % 1000 + 1] or 0) end\n"
         "local w = {}\n"
         "for i = 1, 20000 do w[#w + 1] = string.format('%d:%x', i, i * 31) end\n"
         "table.sort(w)\n"
         "return s .. ' ' .. w[1] .. ' ' .. #table.concat(w, ',')";
}

std::string native_lua(const std::string& script) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_loadbuffer(L, script.data(), script.size(), "=script") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    die(std::string("native lua: ") + lua_tostring(L, -1));
  }
  std::string result = luaL_tolstring(L, -1, nullptr);
  lua_close(L);
  return result;
}

// zlib_guest.c's deflate_pattern, natively: the same text, compress2, uncompress, crc32.
std::string native_deflate_pattern(int64_t mib, int level) {
  static const char* const words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
  const size_t len = static_cast<size_t>(mib) << 20;
  std::vector<unsigned char> text;
  text.reserve(len);
  for (unsigned long i = 0; text.size() < len; ++i) {
    char line[64];
    const int n =
        std::snprintf(line, sizeof line, "line %lu: %s %s\n", i, words[i % 6], words[(i / 7) % 6]);
    text.insert(text.end(), line,
                line + std::min<size_t>(static_cast<size_t>(n), len - text.size()));
  }
  uLongf packed_len = compressBound(len);
  std::vector<unsigned char> packed(packed_len), back(len);
  if (compress2(packed.data(), &packed_len, text.data(), len, level) != Z_OK) die("compress2");
  uLongf back_len = len;
  if (uncompress(back.data(), &back_len, packed.data(), packed_len) != Z_OK || back != text) {
    die("uncompress");
  }
  char result[64];
  std::snprintf(result, sizeof result, "%lu %08lx", static_cast<unsigned long>(packed_len),
                crc32(crc32(0, Z_NULL, 0), packed.data(), static_cast<uInt>(packed_len)));
  return result;
}

struct Workload {
  std::string label;  // "lua", "zlib"
  std::string guest;  // ELF name in GUEST_DIR
  uint64_t memory;
  std::string function;
  std::vector<vmm::Value> args;
  std::function<std::string()> native;  // the same work natively; returns the guest's result
  std::vector<vmm::Value> warm_args;    // a small call first, untimed: the process's first
                                        // sandbox pays one-time costs the others do not
};

vmm::SandboxConfig config(const Workload& w) {
  vmm::SandboxConfig c;
  c.vcpu = vmm::VcpuKind::kUnicorn;  // SSE guests
  c.timeout = std::chrono::milliseconds(0);
  c.memory_size = w.memory;
  c.output = [](std::string_view) {};
  vmm::add_standard_host_functions(c.host_functions);
  return c;
}

std::string text_of(const vmm::Value& v) {
  const auto* s = std::get_if<std::string>(&v);
  return s ? *s : "(not a string)";
}

// The call on an initialised sandbox; the result into `*result`.
Timing plain_run(const vmm::ElfImage& image, const Workload& w, std::string* result) {
  auto sandbox = vmm::Sandbox::create(image, config(w));
  if (!sandbox) die(sandbox.error().message);
  const Stopwatch watch;
  auto r = (*sandbox)->call(w.function, w.args);
  const Timing t = watch.read();
  if (!r) die(w.label + ": " + r.error().to_string());
  *result = text_of(*r);
  return t;
}

// The call recorded (initialisation recorded too, not timed) into `trace`.
Timing recorded_run(const vmm::ElfImage& image, const Workload& w, const std::string& trace) {
  auto sandbox = vmm::Sandbox::load(image, config(w));
  if (!sandbox) die(sandbox.error().message);
  auto rec = recorder::record_to(**sandbox, trace, {.guest_name = w.guest + ".elf"});
  if (!rec) die(rec.error().message);
  if ((*sandbox)->resume().kind != vmm::RunOutcome::Kind::kReturned) die(w.label + ": init");
  TimedObserver timed(**rec);
  (*sandbox)->set_exit_observer(&timed);
  const Stopwatch watch;
  if (!(*sandbox)->call(w.function, w.args)) die(w.label + ": the call failed while recording");
  const double finish0 = thread_cpu_seconds();
  if (auto st = (*rec)->finish(); !st) die(st.error().message);
  const double finish = thread_cpu_seconds() - finish0;
  (*sandbox)->set_exit_observer(rec->get());
  Timing t = watch.read();
  t.recorder_cpu = timed.seconds() + finish + (t.cpu - t.thread_cpu);
  t.exits = (*rec)->exits_recorded();
  t.nondet = (*rec)->nondet_recorded();
  return t;
}

// `hlreplay TRACE --check` (CPU time: the child's), and the instruction count it prints.
Timing check_run(const std::string& hlreplay, const std::string& trace, uint64_t* instructions) {
  const Stopwatch watch(RUSAGE_CHILDREN);
  FILE* p = ::popen((hlreplay + " " + trace + " --check 2>&1").c_str(), "r");
  if (p == nullptr) die("cannot run " + hlreplay);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  const Timing t = watch.read();
  const std::string key = " exits, ";
  const auto at = out.find(key);
  if (status != 0 || at == std::string::npos) die("hlreplay --check: " + out);
  *instructions = std::stoull(out.substr(at + key.size()));
  return t;
}

bench::Sample one(double v) {
  return {v, v, 1};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// A row's runs over the rounds, beside the plain runs of the same rounds.
struct Series {
  std::vector<Timing> runs;
  Timing median_timing() const {
    std::vector<double> wall, cpu;
    for (const Timing& t : runs) {
      wall.push_back(t.wall);
      cpu.push_back(t.cpu);
    }
    return {median(wall), median(cpu)};
  }
};

// Two rows: wall time beside its floor's, then CPU time; each ratio the median of the rounds'
// paired ratios, the goal column showing their range.
void add_pair(bench::Table& table, const std::string& name, const Series& value,
              const std::string& floor_name, const Series& floor, const std::string& goal) {
  const auto row = [&](const std::string& row_name, double Timing::*field,
                       const std::string& what) {
    std::vector<double> ratios, values, floors;
    for (size_t i = 0; i < value.runs.size(); ++i) {
      ratios.push_back(value.runs[i].*field / floor.runs[i].*field);
      values.push_back(value.runs[i].*field);
      floors.push_back(floor.runs[i].*field);
    }
    const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    char range[96];
    std::snprintf(range, sizeof range, " (%s; %zu rounds: %.3f-%.3fx)", what.c_str(), ratios.size(),
                  *lo, *hi);
    std::sort(values.begin(), values.end());
    std::sort(floors.begin(), floors.end());
    table.add({row_name,
               "s",
               {median(values), values.back(), values.size()},
               floor_name,
               {median(floors), floors.back(), floors.size()},
               goal + range,
               median(ratios)});
  };
  row(name, &Timing::wall, "wall");
  row("  cpu time of the same", &Timing::cpu, "cpu");
}

// Recording overhead counted directly: (plain + the recorder's own CPU) / plain, per round.
void add_counted(bench::Table& table, const std::string& name, const Series& recorded,
                 const Series& plain) {
  std::vector<double> ratios, own;
  for (size_t i = 0; i < recorded.runs.size(); ++i) {
    own.push_back(recorded.runs[i].recorder_cpu);
    ratios.push_back(1 + recorded.runs[i].recorder_cpu / plain.runs[i].cpu);
  }
  const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
  char goal[128];
  std::snprintf(goal, sizeof goal, "<= 1.05x (the recorder's own cpu; %zu rounds: %.4f-%.4fx)",
                ratios.size(), *lo, *hi);
  std::sort(own.begin(), own.end());
  const Timing floor = plain.median_timing();
  table.add({name,
             "s",
             {median(own), own.back(), own.size()},
             "same call, not recorded (cpu)",
             {floor.cpu, floor.cpu, plain.runs.size()},
             goal,
             median(ratios)});
}

void measure(bench::Table& table, const Options& o, const Workload& w, const std::string& dir) {
  auto image = vmm::ElfImage::read_file(o.guest_dir + "/" + w.guest + ".elf");
  if (!image) die(image.error().message);
  std::string result;
  plain_run(*image,
            {.label = w.label, .memory = w.memory, .function = w.function, .args = w.warm_args},
            &result);
  const Stopwatch native_watch;
  const std::string native_result = w.native();
  const Timing native = native_watch.read();
  const std::string trace = dir + "/" + w.guest + ".cap";
  const std::string hlreplay = o.guest_dir + "/../cli/hlreplay";
  Series plain, recorded, check;
  uint64_t instructions = 0;
  for (int round = 0; round < o.rounds; ++round) {
    const auto run_plain = [&] {
      plain.runs.push_back(plain_run(*image, w, &result));
      if (result != native_result) {
        die(w.label + ": the guest returned '" + result + "', natively '" + native_result + "'");
      }
    };
    const auto run_recorded = [&] { recorded.runs.push_back(recorded_run(*image, w, trace)); };
    // The check needs this round's trace: recorded before it either way.
    if (round % 2 == 0) {
      run_plain();
      run_recorded();
      check.runs.push_back(check_run(hlreplay, trace, &instructions));
    } else {
      run_recorded();
      check.runs.push_back(check_run(hlreplay, trace, &instructions));
      run_plain();
    }
    std::fprintf(stderr,
                 "real_guests_bench: %s: round %d: cpu plain %.2f s (vCPU thread %.2f), recorded "
                 "%.2f s (vCPU thread %.2f; recorder's own %.3f; %llu exits, %llu nondet), check "
                 "%.2f s\n",
                 w.label.c_str(), round + 1, plain.runs.back().cpu, plain.runs.back().thread_cpu,
                 recorded.runs.back().cpu, recorded.runs.back().thread_cpu,
                 recorded.runs.back().recorder_cpu,
                 static_cast<unsigned long long>(recorded.runs.back().exits),
                 static_cast<unsigned long long>(recorded.runs.back().nondet),
                 check.runs.back().cpu);
  }
  const double mi = static_cast<double>(instructions) / 1e6;
  const Timing plain_median = plain.median_timing();
  std::fprintf(stderr, "real_guests_bench: %s: %.0fM instructions, %.0f MIPS plain (cpu)\n",
               w.label.c_str(), mi, mi / plain_median.cpu);
  const std::string what = w.label + " (" + std::to_string(instructions / 1'000'000) + "M instr)";
  Series natives;
  natives.runs.assign(plain.runs.size(), native);
  add_pair(table, what + ": unicorn", plain, "same work natively on the host", natives, "measure");
  add_pair(table, w.label + ": record", recorded, "same call, not recorded", plain, "<= 1.05x");
  add_counted(table, w.label + ": record, counted", recorded, plain);
  add_pair(table, w.label + ": hlreplay --check", check, "same call, not recorded", plain,
           "<= 1.11x: speed >= 0.9x");
  const auto bytes = static_cast<double>(std::filesystem::file_size(trace));
  table.add({w.label + ": trace bytes per 10^6 instructions", "B", one(bytes / mi), "", {}, ""});
  std::filesystem::remove(trace);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  char tmp[] = "/tmp/hlrr-real-bench-XXXXXX";
  if (!mkdtemp(tmp)) die("mkdtemp");
  const std::string script = lua_script(o.lua_loops);
  bench::Table table;
  if (o.only != "zlib") {
    measure(table, o,
            {"lua",
             "lua_release",
             64ull << 20,
             "lua_run",
             {script},
             [&] { return native_lua(script); },
             {std::string("return 0")}},
            tmp);
  }
  const int64_t mib = o.zlib_mib;
  if (o.only != "lua") {
    measure(table, o,
            {"zlib " + std::to_string(mib) + " MiB",
             "zlib_release",
             static_cast<uint64_t>(3 * mib + 16) << 20,
             "deflate_pattern",
             {mib, int64_t{6}},
             [mib] { return native_deflate_pattern(mib, 6); },
             {int64_t{0}, int64_t{6}}},
            tmp);
  }
  std::filesystem::remove_all(tmp);
  table.print(o.json);
  return 0;
}
