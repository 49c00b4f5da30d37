// How long a debugger waits for a recording: from starting `hlreplay TRACE -g 0` to the first
// stop reply (`?`, after qSupported, as gdb asks), on a chatter(100000) recording (~100k exits,
// ~650 chunks) and on a one-exit one (hello). Goal: <= 0.2 s for any recording (QEMU: 0.14 s).
//
//   connect_bench GUEST_DIR [--json] [--runs N]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "bench/bench_table.h"
#include "bench/bench_util.h"
#include "bench/rsp_client.h"
#include "recorder/recorder.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

using namespace hlrr;

namespace {

using bench::die;

void record(const std::string& elf, const std::string& function, int64_t n,
            const std::string& trace) {
  auto image = vmm::ElfImage::read_file(elf);
  if (!image) die(image.error().message);
  vmm::SandboxConfig config;
  config.vcpu = vmm::VcpuKind::kUnicorn;
  config.timeout = std::chrono::milliseconds(0);
  config.memory_size = 64ull << 20;
  config.output = [](std::string_view) {};
  vmm::add_standard_host_functions(config.host_functions);
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(config));
  if (!sandbox) die(sandbox.error().message);
  auto rec = recorder::record_to(**sandbox, trace);
  if (!rec) die(rec.error().message);
  if ((*sandbox)->resume().kind != vmm::RunOutcome::Kind::kReturned) die("init");
  std::vector<vmm::Value> args;
  if (n >= 0) args.push_back(n);
  if (!(*sandbox)->call(function, args)) die(function + " failed");
  if (auto st = (*rec)->finish(); !st) die(st.error().message);
}

// Seconds from starting hlreplay to the reply to `?`.
double connect_once(const std::string& hlreplay, const std::string& trace) {
  const auto t0 = std::chrono::steady_clock::now();
  FILE* pipe =
      ::popen(("sh -c 'echo $$; exec " + hlreplay + " " + trace + " -g 0' 2>&1").c_str(), "r");
  char line[512] = {};
  if (!pipe || !std::fgets(line, sizeof line, pipe)) die("cannot start " + hlreplay);
  const pid_t pid = std::atoi(line);
  if (!std::fgets(line, sizeof line, pipe)) die("hlreplay did not start");
  const std::string text = line;
  const auto at = text.rfind("127.0.0.1:");
  if (at == std::string::npos) die("hlreplay: " + text);
  double seconds = 0;
  {
    bench::RspClient client(static_cast<uint16_t>(std::atoi(text.c_str() + at + 10)));
    client.request("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+");
    if (client.request("?")[0] != 'T') die("no stop reply");
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  ::kill(pid, SIGTERM);
  ::pclose(pipe);
  return seconds;
}

bench::Sample connect_runs(const std::string& hlreplay, const std::string& trace, size_t runs) {
  std::vector<double> s;
  for (size_t i = 0; i < runs; ++i) s.push_back(connect_once(hlreplay, trace));
  std::sort(s.begin(), s.end());
  return {s[s.size() / 2], s[s.size() * 9 / 10], runs};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: connect_bench GUEST_DIR [--json] [--runs N]");
  const std::string guests = argv[1];
  bool json = false;
  size_t runs = 5;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) json = true;
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = std::stoul(argv[++i]);
  }
  const std::string hlreplay = guests + "/../cli/hlreplay";
  if (!std::filesystem::exists(hlreplay)) die("no " + hlreplay);
  char dir[] = "/tmp/hlrr-connect-bench-XXXXXX";
  if (!::mkdtemp(dir)) die("mkdtemp");
  const std::string small = std::string(dir) + "/hello.cap", big = std::string(dir) + "/chat.cap";
  record(guests + "/hello.elf", "hello", -1, small);
  record(guests + "/chatty.elf", "chatter", 100000, big);
  bench::Table table;
  table.add({"gdb connect: hlreplay -g to 1st stop, 100k exits", "s",
             connect_runs(hlreplay, big, runs), "same, a 3-exit recording",
             connect_runs(hlreplay, small, runs), "<= 0.2 s (qemu 0.14 s)"});
  std::filesystem::remove_all(dir);
  table.print(json);
  return 0;
}
