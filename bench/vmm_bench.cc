// Benchmarks of the VMM: sandbox lifecycle, guest and host call round trips, guest compute
// speed, each beside the raw-engine floor it stands on, measured in this same run.
//
//   vmm_bench GUEST_DIR [--json] [--runs N]
#include <cstring>
#include <string>

#include "bench/bench_table.h"
#include "bench/kvm_floor.h"
#include "bench/unicorn_floor.h"
#include "hl_abi.h"
#include "vmm/guest_messages.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

using namespace hlrr;

namespace {

vmm::ElfImage load(const std::string& path) {
  auto image = vmm::ElfImage::read_file(path);
  if (!image) {
    std::fprintf(stderr, "vmm_bench: %s\n", image.error().message.c_str());
    std::exit(2);
  }
  return std::move(*image);
}

std::unique_ptr<vmm::Sandbox> make(const vmm::ElfImage& image,
                                   vmm::VcpuKind kind = vmm::VcpuKind::kUnicorn) {
  vmm::SandboxConfig config;
  config.vcpu = kind;
  config.output = [](std::string_view) {};
  vmm::add_standard_host_functions(config.host_functions);
  auto s = vmm::Sandbox::create(image, std::move(config));
  if (!s) {
    std::fprintf(stderr, "vmm_bench: %s\n", s.error().message.c_str());
    std::exit(2);
  }
  return std::move(*s);
}

vmm::Value must(base::Expected<vmm::Value, vmm::Fault> r) {
  if (!r) {
    std::fprintf(stderr, "vmm_bench: guest fault: %s\n", r.error().to_string().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

// The sandbox's memory with a call of `name(args)` written into it, for the raw-engine floor.
std::vector<uint8_t> memory_with_call(vmm::Sandbox& sandbox, const char* name,
                                      std::vector<vmm::Value> args) {
  auto copy = vmm::GuestMemory::create(sandbox.memory().size());
  std::memcpy(copy->host_base(), sandbox.memory().host_base(), copy->size());
  HLRR_CHECK(
      vmm::write_message(*copy, HL_CALL_AREA, HL_AREA_SIZE, HL_MSG_CALL, name, args).has_value());
  return {copy->host_base(), copy->host_base() + copy->size()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: vmm_bench GUEST_DIR [--json] [--runs N]\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool json = false;
  size_t runs = 1000;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::stoul(argv[++i]);
  }
  bench::Table table;
  const uint64_t memory_size = vmm::SandboxConfig{}.memory_size;

  // Cold: create + first call + destroy, beside the raw engine lifecycle. The image is parsed
  // (and its code scanned) once, as a host serving a pool of sandboxes does.
  const vmm::ElfImage hello = load(dir + "/hello.elf");
  // The release profile (-O2): the benchmarks measure hlrr on optimised guest code.
  const vmm::ElfImage compute_image = load(dir + "/compute_release.elf");
  const vmm::ElfImage chatty_image = load(dir + "/chatty.elf");
  const auto floor_life = bench::time_runs(runs, [&] { bench::unicorn_lifecycle(memory_size); });
  const auto cold = bench::time_runs(runs, [&] {
    auto s = make(hello);
    must(s->call("hello"));
  });
  table.add({"unicorn: create + first hello() call", "us", cold, "raw unicorn open+map+run+close",
             floor_life, "<= 500 us and <= 2x floor"});

  // Warm: a guest call with no host call, and one host call (exit) round trip.
  bench::UnicornWarmEngine warm_engine;
  const auto floor_call = bench::time_runs(runs, [&] { warm_engine.call(); });
  auto compute = make(compute_image);
  const vmm::Value one[] = {int64_t{1}};
  const auto warm = bench::time_runs(runs, [&] { must(compute->call("fib", one)); });
  table.add(
      {"unicorn: warm guest call fib(1)", "us", warm, "raw unicorn run out;hlt", floor_call, ""});

  const auto floor_exit = bench::time_runs(runs * 10, [&] { warm_engine.exit_round_trip(); });
  auto chatty = make(chatty_image);
  constexpr int64_t kCalls = 1000;
  const vmm::Value n[] = {kCalls};
  const int64_t host_calls = std::get<int64_t>(must(chatty->call("chatter", n)));
  auto per_call =
      bench::time_runs(std::max<size_t>(runs / 20, 10), [&] { must(chatty->call("chatter", n)); });
  per_call.median /= static_cast<double>(host_calls);
  per_call.p90 /= static_cast<double>(host_calls);
  table.add({"unicorn: host call round trip (chatter)", "us", per_call,
             "raw unicorn stop+resume at out", floor_exit, ""});

  // Compute: guest instructions per second, beside raw Unicorn (no hooks) on the same code.
  const vmm::Value sort_args[] = {int64_t{20000}, int64_t{1}};
  const auto memory = memory_with_call(*compute, "sort_hash", {sort_args[0], sort_args[1]});
  const uint64_t instructions =
      bench::raw_unicorn_instructions(memory, compute->dispatch_address(), HL_STACK_TOP);
  const size_t compute_runs = 30;
  std::vector<double> sandbox_mips, raw_mips;
  for (size_t i = 0; i < compute_runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    must(compute->call("sort_hash", sort_args));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sandbox_mips.push_back(instructions / s / 1e6);
    raw_mips.push_back(
        instructions /
        bench::raw_unicorn_seconds(memory, compute->dispatch_address(), HL_STACK_TOP) / 1e6);
  }
  std::sort(sandbox_mips.begin(), sandbox_mips.end());
  std::sort(raw_mips.begin(), raw_mips.end());
  table.add({"unicorn: compute sort_hash(20000) speed",
             "MIPS",
             {sandbox_mips[compute_runs / 2], sandbox_mips[compute_runs / 10], compute_runs},
             "raw unicorn, no hooks, same code",
             {raw_mips[compute_runs / 2], raw_mips[compute_runs / 10], compute_runs},
             ">= 0.8x floor (" + std::to_string(instructions) + " instructions)"});
  // Restore from a snapshot + call: how a pool serves one fresh guest per request.
  {
    auto pooled = make(hello);
    const auto snap = pooled->snapshot();
    const auto restore_call = bench::time_runs(runs, [&] {
      HLRR_CHECK(pooled->restore(snap).has_value());
      must(pooled->call("hello"));
    });
    table.add({"unicorn: restore + hello() call", "us", restore_call, "raw unicorn run out;hlt",
               floor_call, ""});
  }

  if (bench::kvm_present()) {
    const auto kvm_life = bench::time_runs(runs, [&] { bench::kvm_lifecycle(memory_size); });
    const auto kvm_cold = bench::time_runs(runs, [&] {
      auto s = make(hello, vmm::VcpuKind::kKvm);
      must(s->call("hello"));
    });
    table.add({"kvm: create + first hello() call", "us", kvm_cold,
               "bare KVM create+slot+vcpu+run+destroy", kvm_life, "<= 1.2x floor"});

    bench::KvmWarmVm warm_vm(memory_size);
    const auto kvm_warm_floor = bench::time_runs(runs, [&] { warm_vm.call(); });
    auto pooled = make(hello, vmm::VcpuKind::kKvm);
    const auto snap = pooled->snapshot();
    const auto kvm_restore = bench::time_runs(runs, [&] {
      HLRR_CHECK(pooled->restore(snap).has_value());
      must(pooled->call("hello"));
    });
    table.add({"kvm: restore + hello() call", "us", kvm_restore, "bare KVM SET_REGS + run out;hlt",
               kvm_warm_floor, "<= 2x floor"});

    const auto kvm_exit_floor = bench::time_runs(runs * 5, [&] { warm_vm.exit_round_trip(); });
    auto kvm_chatty = make(chatty_image, vmm::VcpuKind::kKvm);
    const int64_t kvm_host_calls = std::get<int64_t>(must(kvm_chatty->call("chatter", n)));
    auto kvm_per_call = bench::time_runs(std::max<size_t>(runs / 50, 10),
                                         [&] { must(kvm_chatty->call("chatter", n)); });
    kvm_per_call.median /= static_cast<double>(kvm_host_calls);
    kvm_per_call.p90 /= static_cast<double>(kvm_host_calls);
    table.add({"kvm: host call round trip (chatter)", "us", kvm_per_call,
               "bare KVM out exit round trip", kvm_exit_floor, "<= 1.2x floor"});

    // This KVM runs CPU-bound code slowly (nested, paravirtualized: docs/vcpu-facts.md): the
    // bare speed first, then a small sort.
    std::vector<double> loop_mips;
    for (int i = 0; i < 5; ++i) loop_mips.push_back(2.0 / warm_vm.register_loop_seconds());
    std::sort(loop_mips.begin(), loop_mips.end());
    table.add({"bare kvm: dec/jnz loop speed",
               "MIPS",
               {loop_mips[2], loop_mips[0], 5},
               "",
               {},
               "what guest code costs here"});
    auto kvm_compute = make(compute_image, vmm::VcpuKind::kKvm);
    auto soft_compute = make(compute_image, vmm::VcpuKind::kUnicorn);
    const vmm::Value small[] = {int64_t{1000}, int64_t{1}};
    const uint64_t small_instructions = bench::raw_unicorn_instructions(
        memory_with_call(*soft_compute, "sort_hash", {small[0], small[1]}),
        soft_compute->dispatch_address(), HL_STACK_TOP);
    auto mips = [&](vmm::Sandbox& s) {
      const auto clean_state = s.snapshot();
      auto t = bench::time_runs(
          5,
          [&] {
            HLRR_CHECK(s.restore(clean_state).has_value());
            must(s.call("sort_hash", small));
          },
          1);
      return bench::Sample{small_instructions / t.median, small_instructions / t.p90, t.runs};
    };
    table.add({"kvm: compute sort_hash(1000) speed", "MIPS", mips(*kvm_compute),
               "software vCPU, same call", mips(*soft_compute),
               "(" + std::to_string(small_instructions) + " instructions)"});
  }
  table.print(json);
  return 0;
}
