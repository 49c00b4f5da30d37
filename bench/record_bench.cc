// Benchmarks of recording: wall-time overhead of recording a guest call (record vs plain, same
// call on a fresh sandbox each run), the trace's size per exit after compression, and the trace
// writer's throughput.
//
//   record_bench GUEST_DIR [--json] [--record-runs N]   (--runs, for vmm_bench, is ignored)
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "bench/bench_table.h"
#include "bench/bench_util.h"
#include "recorder/recorder.h"
#include "trace_format/trace_reader.h"
#include "trace_format/trace_writer.h"
#include "vmm/kvm_vcpu.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

using namespace hlrr;

namespace {

using bench::die;

std::unique_ptr<vmm::Sandbox> make(const vmm::ElfImage& image, vmm::VcpuKind kind) {
  vmm::SandboxConfig config;
  config.vcpu = kind;
  config.timeout = std::chrono::milliseconds(0);
  config.output = [](std::string_view) {};
  vmm::add_standard_host_functions(config.host_functions);
  auto s = vmm::Sandbox::create(image, std::move(config));
  if (!s) die(s.error().message);
  return std::move(*s);
}

struct Workload {
  std::string label;
  const vmm::ElfImage* image;
  std::string function;
  std::vector<vmm::Value> args;
};

double cpu_ms() {  // user + system time of the whole process (vCPU and writer threads)
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

struct Timing {
  double wall_ms = 0;
  double cpu_ms = 0;
};

// Times one call on a fresh, initialised sandbox, recording it into `trace` (call + finish) or
// not (empty `trace`). Creating the sandbox and writing Setup are not timed: a host pays them
// once per sandbox, not per call.
Timing timed_call(const Workload& w, vmm::VcpuKind kind, const std::string& trace) {
  auto sandbox = make(*w.image, kind);
  std::unique_ptr<recorder::Recorder> rec;
  if (!trace.empty()) {
    auto r = recorder::record_to(*sandbox, trace);
    if (!r) die(r.error().message);
    rec = std::move(*r);
  }
  const double c0 = cpu_ms();
  const auto t0 = std::chrono::steady_clock::now();
  auto result = sandbox->call(w.function, w.args);
  if (rec) {
    if (auto st = rec->finish(); !st) die(st.error().message);
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_ms() - c0;
  if (!result) die("guest fault: " + result.error().to_string());
  return {ms, cpu};
}

// Plain and recorded runs interleaved (so drift on a shared machine hits both alike).
void overhead(bench::Table& table, const Workload& w, vmm::VcpuKind kind, size_t runs,
              const std::string& trace, const std::string& goal) {
  std::vector<double> plain, recorded, plain_cpu, recorded_cpu;
  timed_call(w, kind, "");  // warm caches
  for (size_t i = 0; i < runs; ++i) {
    const Timing p = timed_call(w, kind, "");
    const Timing r = timed_call(w, kind, trace);
    plain.push_back(p.wall_ms);
    recorded.push_back(r.wall_ms);
    plain_cpu.push_back(p.cpu_ms);
    recorded_cpu.push_back(r.cpu_ms);
  }
  const auto sample = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return bench::Sample{v[v.size() / 2], v[v.size() * 9 / 10], v.size()};
  };
  const std::string backend = vmm::to_string(kind);
  table.add({backend + ": record " + w.label, "ms", sample(recorded), "same call, not recorded",
             sample(plain), goal + " (wall)"});
  // CPU time of both threads: steadier than wall time on a loaded machine, and it charges the
  // writer thread's encoding and compression to recording.
  table.add({backend + ":   cpu time of the same", "ms", sample(recorded_cpu),
             "same call, not recorded", sample(plain_cpu), "(cpu, both threads)"});
}

// Re-writes `trace`'s records into `out` (host writes' bytes dropped if `strip`), timing the
// writer: returns {exits, exits per second, compressed bytes of the chunks after Setup}.
struct Rewrite {
  uint64_t exits = 0;
  double exits_per_s = 0;
  uint64_t chunk_bytes = 0;
};
Rewrite rewrite(const std::string& trace, const std::string& out, bool strip) {
  auto reader = trace::TraceReader::open(trace);
  if (!reader) die(reader.error().message);
  auto setup = (*reader)->setup();
  if (!setup) die(setup.error().message);
  std::vector<trace::Record> records;
  trace::End end;
  auto st = (*reader)->for_each_record([&](const trace::Record& r) {
    if (std::holds_alternative<trace::Setup>(r)) return true;
    if (auto* e = std::get_if<trace::End>(&r)) {
      end = *e;
      return true;
    }
    records.push_back(r);
    if (strip) {
      if (auto* e = std::get_if<trace::Exit>(&records.back())) {
        for (auto& w : e->host_writes) w.bytes.clear();
      }
    }
    return true;
  });
  if (!st) die(st.error().message);
  Rewrite result;
  auto writer = trace::TraceWriter::open(out, *setup);
  if (!writer) die(writer.error().message);
  const auto t1 = std::chrono::steady_clock::now();  // Setup (ELF + pages) excluded
  for (auto& r : records) {
    if (std::holds_alternative<trace::Exit>(r)) ++result.exits;
    if (auto s = (*writer)->append(std::move(r)); !s) die(s.error().message);
  }
  if (auto s = (*writer)->finish(end); !s) die(s.error().message);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  result.exits_per_s = static_cast<double>(result.exits) / seconds;
  auto check = trace::TraceReader::open(out);
  if (!check) die(check.error().message);
  for (size_t i = 1; i < (*check)->chunks().size(); ++i) {
    trace::ChunkHeader header;
    if (!(*check)->read_chunk(i, &header)) die("cannot re-read " + out);
    result.chunk_bytes += trace::kChunkHeaderSize + header.compressed_size;
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: record_bench GUEST_DIR [--json] [--record-runs N]\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool json = false;
  size_t runs = 5;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    if (!std::strcmp(argv[i], "--record-runs") && i + 1 < argc) runs = std::stoul(argv[++i]);
  }
  auto chatty = vmm::ElfImage::read_file(dir + "/chatty.elf");
  // The release profile (-O2): the benchmarks measure hlrr on optimised guest code.
  auto compute = vmm::ElfImage::read_file(dir + "/compute_release.elf");
  if (!chatty || !compute) die("cannot read the guests in " + dir);
  char tmp[] = "/tmp/hlrr-record-bench-XXXXXX";
  const std::string tmpdir = mkdtemp(tmp);
  const std::string trace = tmpdir + "/bench.cap";

  bench::Table table;
  constexpr int64_t kChattyUnicorn = 100'000;
  // Nested KVM here: ~0.2 ms per host call (guest code at ~0.5 MIPS), so fewer exits.
  constexpr int64_t kChattyKvm = 5'000;
  overhead(table, {"chatter(100000): 100102 exits", &*chatty, "chatter", {int64_t{kChattyUnicorn}}},
           vmm::VcpuKind::kUnicorn, runs, trace, "<= 1.10x");
  overhead(table,
           {"sort_hash(200000, 7): 1 exit", &*compute, "sort_hash", {int64_t{200'000}, int64_t{7}}},
           vmm::VcpuKind::kUnicorn, runs, trace, "<= 1.10x");
  if (vmm::KvmVcpu::available()) {
    overhead(table, {"chatter(5000): 5006 exits", &*chatty, "chatter", {int64_t{kChattyKvm}}},
             vmm::VcpuKind::kKvm, runs, trace, "<= 1.05x");
    overhead(table,
             {"sort_hash(300, 7): 1 exit", &*compute, "sort_hash", {int64_t{300}, int64_t{7}}},
             vmm::VcpuKind::kKvm, runs, trace, "<= 1.05x");
  }

  // Size and writer throughput, from a chatty recording on the software vCPU.
  timed_call({"", &*chatty, "chatter", {int64_t{kChattyUnicorn}}}, vmm::VcpuKind::kUnicorn, trace);
  const Rewrite full = rewrite(trace, tmpdir + "/full.cap", false);
  const Rewrite bare = rewrite(trace, tmpdir + "/bare.cap", true);
  const auto one = [](double v) { return bench::Sample{v, v, 1}; };
  table.add({"trace bytes/exit (chatty, with host data)",
             "B",
             one(static_cast<double>(full.chunk_bytes) / static_cast<double>(full.exits)),
             "",
             {},
             ""});
  table.add({"trace bytes/exit (chatty, no host data)",
             "B",
             one(static_cast<double>(bare.chunk_bytes) / static_cast<double>(bare.exits)),
             "",
             {},
             "<= 32 B"});
  table.add({"trace writer throughput",
             "k/s",
             one(full.exits_per_s / 1000.0),
             "",
             {},
             "exits/s, thousands"});
  table.print(json);
  std::remove(trace.c_str());
  std::remove((tmpdir + "/full.cap").c_str());
  std::remove((tmpdir + "/bare.cap").c_str());
  rmdir(tmpdir.c_str());
  return 0;
}
