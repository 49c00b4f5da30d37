// hlrun -g's session (cli::LiveSession) drives the sandbox from one thread for its whole life
// under a debugger: every resume the debugger asks for and, after a detach, the run to the
// program's end. (KVM refuses nothing else, but its vCPUs belong to one thread: vmm/kvm_vcpu.h.)
#include "cli/live_session.h"

#include <gtest/gtest.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "rsp/packet_codec.h"
#include "tests/integration/guests.h"
#include "tests/rsp/tcp_client.h"
#include "vmm/vcpu_factory.h"

namespace hlrr::testing {
namespace {

using vmm::RunOptions;
using vmm::StopCause;
using vmm::Vcpu;
using vmm::VcpuExit;

// The thread of every run() of a vCPU, by kernel thread id.
struct RunThreads {
  std::mutex mutex;
  std::vector<pid_t> ids;
  void add() {
    std::lock_guard lock(mutex);
    ids.push_back(gettid());
  }
};

// A vCPU that notes the thread of each run() and passes everything on to `inner`, stop
// requests included (as HybridVcpu passes them on to its engine).
class ThreadRecordingVcpu final : public Vcpu {
 public:
  ThreadRecordingVcpu(std::unique_ptr<Vcpu> inner, RunThreads& threads)
      : inner_(std::move(inner)), threads_(threads) {}
  std::string_view backend_name() const override { return inner_->backend_name(); }
  VcpuExit run(const RunOptions& options) override {
    threads_.add();
    if (const StopCause cause = stop_.take(); cause != StopCause::kNone) {
      return VcpuExit{.kind = vmm::ExitKind::kStopped, .stop_cause = cause};
    }
    inner_->begin_stop_generation();
    running_.store(true);
    if (const StopCause cause = stop_.pending(); cause != StopCause::kNone) kick();
    VcpuExit exit = inner_->run(options);
    running_.store(false);
    if (exit.kind == vmm::ExitKind::kStopped) stop_.take();
    return exit;
  }
  base::Expected<vmm::RegisterFile> registers() override { return inner_->registers(); }
  base::Status set_registers(const vmm::RegisterFile& regs) override {
    return inner_->set_registers(regs);
  }
  void set_io_in_result(uint32_t value) override { inner_->set_io_in_result(value); }
  void set_nondet_result(uint64_t value, uint64_t extra) override {
    inner_->set_nondet_result(value, extra);
  }
  void set_fpu_static(bool is_static) override { inner_->set_fpu_static(is_static); }
  bool counts_instructions() const override { return inner_->counts_instructions(); }
  uint64_t instruction_count() const override { return inner_->instruction_count(); }
  void set_instruction_count(uint64_t count) override { inner_->set_instruction_count(count); }
  base::Status set_dirty_tracking(bool enabled) override {
    return inner_->set_dirty_tracking(enabled);
  }
  void code_modified(uint64_t gpa, uint64_t len) override { inner_->code_modified(gpa, len); }
  base::Status set_debug_points(std::span<const vmm::DebugPoint> points) override {
    return inner_->set_debug_points(points);
  }

 protected:
  void kick() override {
    const StopCause cause = stop_.pending();
    if (running_.load() && cause != StopCause::kNone) {
      inner_->request_stop(cause, inner_->stop_generation());
    }
  }

 private:
  std::unique_ptr<Vcpu> inner_;
  RunThreads& threads_;
  std::atomic<bool> running_{false};
};

std::string frame(std::string_view payload) {
  std::string out;
  rsp::append_packet(out, payload);
  return out;
}

// Sends one packet (no-ack mode) and returns the reply's payload.
std::string request(rsp::testing::TcpClient& client, std::string_view payload) {
  if (!client.send(frame(payload))) return "<send failed>";
  std::string reply = client.read_packet();
  const auto dollar = reply.find('$');
  const auto hash = reply.rfind('#');
  if (dollar == std::string::npos || hash == std::string::npos) return "<no reply: " + reply + ">";
  return reply.substr(dollar + 1, hash - dollar - 1);
}

// gdb's hex of a little-endian 64-bit register.
std::string register_hex(uint64_t value) {
  std::string out;
  for (int i = 0; i < 8; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", static_cast<unsigned>((value >> (8 * i)) & 0xff));
    out += byte;
  }
  return out;
}

TEST(LiveSession, OneThreadRunsTheGuestFromTheFirstResumeToTheEndAfterADetach) {
  RunThreads threads;
  std::string output;
  vmm::SandboxConfig config;
  config.timeout = std::chrono::milliseconds(0);
  config.output = [&output](std::string_view text) { output.append(text); };
  config.vcpu_factory = [&threads](
                            vmm::GuestMemory& memory,
                            const vmm::ElfImage& image) -> base::Expected<std::unique_ptr<Vcpu>> {
    auto inner = vmm::create_vcpu(vmm::VcpuKind::kUnicorn, memory, image);
    if (!inner) return base::Unexpected(std::move(inner).error());
    return std::unique_ptr<Vcpu>(std::make_unique<ThreadRecordingVcpu>(std::move(*inner), threads));
  };
  auto image = vmm::ElfImage::read_file(guest_path("hello"));
  ASSERT_TRUE(image) << image.error().message;
  const std::optional<uint64_t> greet = image->symbols().address_of("greet");
  ASSERT_TRUE(greet);
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(config));
  ASSERT_TRUE(sandbox) << sandbox.error().message;
  auto session = cli::LiveSession::create(**sandbox, "greet", {vmm::Value{std::string("world")}},
                                          guest_path("hello"), {});
  ASSERT_TRUE(session) << session.error().message;

  // The debugger: to a breakpoint at greet, then detach (as gdb's `break greet`, `c`, `detach`).
  std::string breakpoint_stop, rip, detach_reply;
  size_t runs_before_detach = 0;
  std::thread debugger([&, port = (*session)->server().port()] {
    rsp::testing::TcpClient client(port);
    if (!client.connected()) return;
    client.send(frame("QStartNoAckMode"));
    client.read_packet();
    char z0[64];
    std::snprintf(z0, sizeof z0, "Z0,%llx,1", static_cast<unsigned long long>(*greet));
    if (request(client, z0) != "OK") return;
    breakpoint_stop = request(client, "c");
    rip = request(client, "p10");
    {
      std::lock_guard lock(threads.mutex);
      runs_before_detach = threads.ids.size();
    }
    detach_reply = request(client, "D");
  });
  const base::Status served = (*session)->run();  // on this thread, as hlrun's main thread
  debugger.join();

  ASSERT_TRUE(served) << served.error().message;
  EXPECT_EQ(breakpoint_stop.substr(0, 3), "T05") << breakpoint_stop;
  EXPECT_EQ(rip, register_hex(*greet));
  EXPECT_EQ(detach_reply, "OK");
  const auto& result = (*session)->target().result();
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->has_value()) << result->error().to_string();
  EXPECT_EQ(**result, vmm::Value{int64_t{14}});  // "Hello, world!\n"
  EXPECT_EQ(output, "Hello, world!\n");
  // Runs before the detach (the initialisation, up to the breakpoint) and after it (the print,
  // the return), every one on the same thread.
  ASSERT_GT(runs_before_detach, 0u);
  ASSERT_GT(threads.ids.size(), runs_before_detach);
  for (size_t i = 0; i < threads.ids.size(); ++i) {
    EXPECT_EQ(threads.ids[i], threads.ids[0]) << "run " << i << " of " << threads.ids.size();
  }
}

}  // namespace
}  // namespace hlrr::testing
