// Benchmarks of live debugging: a raw RSP client on loopback (no gdb) against hlrun's stack
// (rsp::Server + debug::LiveTarget + Sandbox) on each backend: the `s` (stepi) round trip, beside
// a single step through Sandbox::resume() without the protocol, and reading 64 KiB with `m`.
//
//   rsp_bench GUEST_DIR [--json] [--runs N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "bench/bench_table.h"
#include "bench/bench_util.h"
#include "bench/rsp_client.h"
#include "debug/live_target.h"
#include "rsp/server.h"
#include "rsp/target_thread.h"
#include "vmm/kvm_vcpu.h"
#include "vmm/sandbox.h"

using namespace hlrr;

namespace {

using bench::die;

// A sandbox of faults.elf stopped inside infinite_loop: it can be stepped forever.
std::unique_ptr<vmm::Sandbox> looping_sandbox(const std::string& guest, vmm::VcpuKind kind) {
  vmm::SandboxConfig config;
  config.vcpu = kind;
  config.timeout = std::chrono::milliseconds(0);
  auto image = vmm::ElfImage::read_file(guest);
  if (!image) die(image.error().message);
  auto s = vmm::Sandbox::create(std::move(*image), std::move(config));
  if (!s) die(s.error().message);
  if (auto st = (*s)->begin_call("infinite_loop"); !st) die(st.error().message);
  return std::move(*s);
}

using hlrr::bench::RspClient;

void bench_backend(const std::string& guest, vmm::VcpuKind kind, size_t runs, bench::Table& table) {
  const std::string name = vmm::to_string(kind);
  // Floor: the same single step without the protocol.
  auto plain = looping_sandbox(guest, kind);
  const bench::Sample floor = bench::time_runs(runs, [&] {
    if (plain->resume({.single_step = true}).kind != vmm::RunOutcome::Kind::kPaused) die("step");
  });

  // The served sandbox is created (its initialisation run) on the thread that serves it: a
  // KVM vCPU runs on one thread only.
  rsp::TargetThread target_thread;
  std::unique_ptr<vmm::Sandbox> sandbox;
  target_thread.call([&] { sandbox = looping_sandbox(guest, kind); });
  debug::LiveTarget target(*sandbox, "infinite_loop", {}, guest);
  auto server = rsp::Server::create(target, target_thread, {});
  if (!server) die(server.error().message);
  std::thread serving([&] { (void)(*server)->run(); });
  {
    RspClient client((*server)->port());
    const bench::Sample step = bench::time_runs(runs, [&] {
      if (client.request("s")[0] != 'T') die("unexpected stop reply");
    });
    table.add({"rsp stepi round trip (" + name + ")", "us", step,
               "Sandbox single step (" + name + ")", floor, "<= 1000 us"});
    // 64 KiB as gdb reads it: `m` packets of at most 0x1ff0 bytes (the server's cap).
    const bench::Sample read = bench::time_runs(std::max<size_t>(runs / 10, 20), [&] {
      for (uint64_t a = 0x100000, end = a + 0x10000; a < end; a += 0x1ff0) {
        char packet[48];
        std::snprintf(packet, sizeof packet, "m%llx,%llx", static_cast<unsigned long long>(a),
                      static_cast<unsigned long long>(std::min<uint64_t>(0x1ff0, end - a)));
        if (client.request(packet).size() < 2) die("short m reply");
      }
    });
    char goal[64];
    std::snprintf(goal, sizeof goal, "%.0f MiB/s", 64.0 / 1024 / (read.median / 1e6));
    table.add({"rsp m 64 KiB (9 packets, " + name + ")", "us", read, "", {}, goal});
    client.send("k");
  }
  serving.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: rsp_bench GUEST_DIR [--json] [--runs N]");
  const std::string guest = std::string(argv[1]) + "/faults.elf";
  bool json = false;
  size_t runs = 2000;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) json = true;
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = std::stoul(argv[++i]);
  }
  bench::Table table;
  bench_backend(guest, vmm::VcpuKind::kUnicorn, runs, table);
  if (auto kvm = vmm::KvmVcpu::available(); kvm) {
    bench_backend(guest, vmm::VcpuKind::kKvm, runs, table);
  } else {
    std::fprintf(stderr, "rsp_bench: KVM skipped: %s\n", kvm.error().message.c_str());
  }
  table.print(json);
  return 0;
}
