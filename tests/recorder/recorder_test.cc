// The recorder through its library API (recorder::record_to), on both vCPU backends: what a
// trace holds for each example guest, checked against the guest's documented behaviour.
#include "recorder/recorder.h"

#include <gtest/gtest.h>

#include <cstring>

#include "hl_abi.h"
#include "recorder/convert.h"
#include "tests/integration/guests.h"
#include "tests/recorder/recorder_test_util.h"
#include "trace_format/file_layout.h"
#include "vmm/long_mode.h"
#include "vmm/standard_host_functions.h"

namespace hlrr::testing {
namespace {

using trace::ExitKind;

class RecorderTest : public BackendTest {
 protected:
  // Loads `guest` (stopped at its entry) and starts recording it into trace_.path().
  void start(const std::string& guest, recorder::RecordOptions options = {}) {
    auto image = vmm::ElfImage::read_file(guest_path(guest));
    ASSERT_TRUE(image) << image.error().message;
    image_ = *image;
    vmm::SandboxConfig c = config();
    c.output = [this](std::string_view text) { output_.append(text); };
    vmm::add_standard_host_functions(c.host_functions);
    auto sandbox = vmm::Sandbox::load(*image, std::move(c));
    ASSERT_TRUE(sandbox) << sandbox.error().message;
    sandbox_ = std::move(*sandbox);
    options.guest_name = guest + ".elf";
    auto rec = recorder::record_to(*sandbox_, trace_.path(), options);
    ASSERT_TRUE(rec) << rec.error().message;
    recorder_ = std::move(*rec);
    ASSERT_EQ(sandbox_->resume().kind, vmm::RunOutcome::Kind::kReturned);
  }
  TraceContents finish() {
    auto st = recorder_->finish();
    EXPECT_TRUE(st) << st.error().message;
    return read_trace(trace_.path());
  }
  // True if `rip` is just after an `out` the loader's code scan found.
  bool after_an_out(uint64_t rip) const {
    for (const auto& site : image_.instruction_sites()) {
      if (site.kind == vmm::SiteKind::kOut && site.address + site.length == rip) return true;
    }
    return false;
  }

  TempTrace trace_;
  vmm::ElfImage image_ = *vmm::ElfImage::read_file(guest_path("hello"));
  std::unique_ptr<vmm::Sandbox> sandbox_;
  std::unique_ptr<recorder::Recorder> recorder_;
  std::string output_;
};

// The i64 a host-call reply message (hl_message at the reply area) carries.
int64_t reply_value(const trace::MemoryWrite& w) {
  hl_message m{};
  EXPECT_GE(w.bytes.size(), sizeof m);
  std::memcpy(&m, w.bytes.data(), std::min(sizeof m, w.bytes.size()));
  EXPECT_EQ(m.magic, HL_MESSAGE_MAGIC);
  EXPECT_EQ(m.kind, HL_MSG_RESULT);
  EXPECT_EQ(m.args[0].type, HL_I64);
  return m.args[0].u.i64;
}

TEST_P(RecorderTest, ChattyEveryHostCallIsAnExitWithItsReply) {
  const int64_t n = on_kvm() ? 120 : 2500;
  ASSERT_NO_FATAL_FAILURE(start("chatty"));
  EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox_, "chatter", {n})), n + n / 1000 + 1);
  const uint64_t sandbox_exits = sandbox_->exit_count();
  auto t = finish();

  EXPECT_EQ(t.setup.backend, on_kvm() ? "kvm" : "unicorn");
  EXPECT_EQ(t.setup.guest_name, "chatty.elf");
  EXPECT_EQ(t.setup.elf.size(), image_.bytes().size());
  EXPECT_EQ(t.setup.cpu.vendor, "AuthenticAMD");
  EXPECT_EQ(t.setup.initial_registers.rip, image_.entry());
  EXPECT_EQ(t.setup.config.memory_size, 4u << 20);
  // Calls: the initialisation ("") and chatter(n), each with its result.
  ASSERT_EQ(t.calls.size(), 2u);
  EXPECT_EQ(t.calls[0].function, "");
  EXPECT_EQ(t.calls[1].function, "chatter");
  ASSERT_EQ(t.calls[1].args.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(t.calls[1].args[0]), n);
  ASSERT_TRUE(t.calls[1].registers.has_value());
  EXPECT_EQ(t.calls[1].registers->rip, sandbox_->dispatch_address());
  ASSERT_EQ(t.calls[1].host_writes.size(), 2u);
  EXPECT_EQ(t.calls[1].host_writes[0].address, HL_CALL_AREA);
  EXPECT_EQ(t.calls[1].host_writes[1].address, HL_OUT_AREA);
  ASSERT_EQ(t.ends.size(), 2u);
  EXPECT_EQ(std::get<int64_t>(std::get<0>(t.ends[0].outcome)),
            static_cast<int64_t>(sandbox_->dispatch_address()));
  EXPECT_EQ(std::get<int64_t>(std::get<0>(t.ends[1].outcome)), n + n / 1000 + 1);
  EXPECT_EQ(t.end.kind, trace::EndKind::kCompleted);

  // Exits: the initialisation's halt, n + n/1000 + 1 host calls, the call's halt.
  ASSERT_EQ(t.exits.size(), static_cast<size_t>(1 + n + n / 1000 + 1 + 1));
  EXPECT_EQ(t.exits.size(), sandbox_exits);
  EXPECT_EQ(t.exits.front().kind, ExitKind::kHalt);
  EXPECT_EQ(t.exits.back().kind, ExitKind::kHalt);
  int64_t last_clock = INT64_MIN;
  size_t clock_calls = 0;
  for (size_t i = 1; i + 1 < t.exits.size(); ++i) {
    const auto& e = t.exits[i];
    EXPECT_EQ(e.sequence, i);
    ASSERT_EQ(e.kind, ExitKind::kPortOut) << "exit " << i;
    EXPECT_EQ(e.port, HL_PORT_HOST_CALL);
    EXPECT_EQ(e.access_size, 1);
    EXPECT_TRUE(after_an_out(e.registers.rip)) << std::hex << e.registers.rip;
    // Where the backend counts (the software vCPU once replay's counting is in), counts grow
    // with every exit; KVM records 0 = unknown.
    if (sandbox_->vcpu().counts_instructions()) {
      EXPECT_GT(e.instruction_count, t.exits[i - 1].instruction_count) << "exit " << i;
    } else {
      EXPECT_EQ(e.instruction_count, 0u);
    }
    ASSERT_EQ(e.host_writes.size(), 1u) << "exit " << i;
    EXPECT_EQ(e.host_writes[0].address, HL_REPLY_AREA);
    const int64_t v = reply_value(e.host_writes[0]);
    // clock_ns replies never go backwards; print replies are the bytes printed (17-30).
    if (v > 1000) {
      EXPECT_GE(v, last_clock);
      last_clock = v;
      ++clock_calls;
    }
  }
  EXPECT_EQ(clock_calls, static_cast<size_t>(n));
}

TEST_P(RecorderTest, ComputeHasOnlyItsHalt) {
  ASSERT_NO_FATAL_FAILURE(start("compute"));
  EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox_, "fib", {int64_t{90}})), 2880067194370816120);
  EXPECT_EQ(std::get<int64_t>(
                call_ok(*sandbox_, "sort_hash", {int64_t{on_kvm() ? 16 : 500}, int64_t{7}})) != 0,
            true);
  auto t = finish();
  ASSERT_EQ(t.exits.size(), 3u);
  for (const auto& e : t.exits) EXPECT_EQ(e.kind, ExitKind::kHalt);
  ASSERT_EQ(t.calls.size(), 3u);
  EXPECT_EQ(t.calls[2].function, "sort_hash");
  // The halt's registers: RIP after the dispatcher's hlt, the result in the out area.
  EXPECT_EQ(t.exits[1].registers.rsp, HL_STACK_TOP);
}

TEST_P(RecorderTest, HelloPrintsAreHostCallsAndVoidResultsRoundTrip) {
  ASSERT_NO_FATAL_FAILURE(start("hello"));
  EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox_, "greet", {std::string("world")})), 14);
  auto t = finish();
  EXPECT_EQ(output_, "Hello, world!\n");
  ASSERT_EQ(t.exits.size(), 3u);  // init halt, print, halt
  EXPECT_EQ(t.exits[1].kind, ExitKind::kPortOut);
  EXPECT_EQ(t.exits[1].port, HL_PORT_HOST_CALL);
  EXPECT_EQ(reply_value(t.exits[1].host_writes.at(0)), 14);
  EXPECT_EQ(std::get<std::string>(t.calls[1].args.at(0)), "world");
}

TEST_P(RecorderTest, BuggyVoidResult) {
  ASSERT_NO_FATAL_FAILURE(start("buggy"));
  call_ok(*sandbox_, "add_sample", {int64_t{10}});
  call_ok(*sandbox_, "reset");
  auto t = finish();
  ASSERT_EQ(t.ends.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(std::get<0>(t.ends[1].outcome)), 1);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(std::get<0>(t.ends[2].outcome)));
}

TEST_P(RecorderTest, AFaultEndsTheRecordingWithTheFault) {
  ASSERT_NO_FATAL_FAILURE(start("faults"));
  auto result = sandbox_->call("null_deref");
  ASSERT_FALSE(result);
  EXPECT_FALSE(recorder_->active());
  call_ok(*sandbox_, "still_alive");  // not recorded: the recording ended with the fault
  auto t = finish();
  ASSERT_EQ(t.exits.size(), 2u);
  const auto& e = t.exits[1];
  EXPECT_EQ(e.kind, ExitKind::kException);
  ASSERT_TRUE(e.fault.has_value());
  EXPECT_EQ(e.fault->vector, 14);
  EXPECT_EQ(e.fault->address, 0u);
  EXPECT_EQ(e.registers.rip, result.error().rip);
  EXPECT_EQ(t.end.kind, trace::EndKind::kGuestFault);
  EXPECT_EQ(t.end.message, result.error().to_string());
  ASSERT_EQ(t.ends.size(), 2u);
  EXPECT_TRUE(t.ends[1].is_error());
  EXPECT_EQ(t.calls.size(), 2u);
}

TEST_P(RecorderTest, ATimeoutIsRecordedWithTheRegistersToRunTo) {
  auto image = vmm::ElfImage::read_file(guest_path("faults"));
  vmm::SandboxConfig c = config();
  c.timeout = std::chrono::milliseconds(200);
  auto sandbox = vmm::Sandbox::create(*image, c);
  ASSERT_TRUE(sandbox) << sandbox.error().message;
  auto rec = recorder::record_to(**sandbox, trace_.path());  // an idle, initialised sandbox
  ASSERT_TRUE(rec) << rec.error().message;
  auto result = (*sandbox)->call("infinite_loop");
  ASSERT_FALSE(result);
  ASSERT_EQ(result.error().kind, vmm::FaultKind::kTimeout);
  auto t = read_trace(trace_.path());
  EXPECT_EQ(t.setup.config.extra.at(1).second, "initialized");
  ASSERT_EQ(t.calls.size(), 1u);
  ASSERT_EQ(t.exits.size(), 1u);
  EXPECT_EQ(t.exits[0].kind, ExitKind::kTimeout);
  EXPECT_EQ(t.exits[0].registers.rip, result.error().rip);
  EXPECT_EQ(t.end.kind, trace::EndKind::kTimeout);
}

// With memory_contents, Setup's pages plus every MemoryDelta give all of guest memory at the end.
TEST_P(RecorderTest, MemoryDeltasRebuildGuestMemory) {
  ASSERT_NO_FATAL_FAILURE(start("chatty", {.delta_every_exits = 50, .memory_contents = true}));
  const int64_t n = on_kvm() ? 120 : 1200;
  call_ok(*sandbox_, "chatter", {n});
  auto t = finish();
  EXPECT_GE(t.deltas.size(), static_cast<size_t>(n / 50));
  std::vector<uint8_t> memory(sandbox_->memory().size(), 0);
  for (const auto& p : t.setup.initial_memory)
    std::memcpy(&memory[p.address], p.bytes.data(), 4096);
  uint64_t last_exit = 0;
  for (const auto& d : t.deltas) {
    EXPECT_GE(d.exit_sequence, last_exit);
    last_exit = d.exit_sequence;
    for (const auto& p : d.pages) std::memcpy(&memory[p.address], p.bytes.data(), 4096);
  }
  EXPECT_EQ(last_exit, t.exits.size() - 1);
  EXPECT_EQ(std::memcmp(memory.data(), sandbox_->memory().host_base(), memory.size()), 0);
  // The stack page and the reply area were written along the way.
  bool reply_seen = false;
  for (const auto& d : t.deltas) {
    for (const auto& p : d.pages) reply_seen |= p.address == HL_REPLY_AREA;
  }
  EXPECT_TRUE(reply_seen);
}

// By default a delta holds each changed page's checksum, not its bytes: the last one's match
// guest memory at the end, page for page.
TEST_P(RecorderTest, MemoryDeltasHoldPageChecksumsByDefault) {
  ASSERT_NO_FATAL_FAILURE(start("chatty", {.delta_every_exits = 50}));
  const int64_t n = on_kvm() ? 120 : 1200;
  call_ok(*sandbox_, "chatter", {n});
  auto t = finish();
  ASSERT_GE(t.deltas.size(), static_cast<size_t>(n / 50));
  bool reply_seen = false;
  for (const auto& d : t.deltas) {
    EXPECT_TRUE(d.pages.empty()) << d.pages.size() << " pages after exit " << d.exit_sequence;
    for (const auto& p : d.page_digests) reply_seen |= p.address == HL_REPLY_AREA;
  }
  EXPECT_TRUE(reply_seen);
  const auto& last = t.deltas.back();
  EXPECT_EQ(last.exit_sequence, t.exits.size() - 1);
  ASSERT_FALSE(last.page_digests.empty());
  for (const auto& p : last.page_digests) {
    const uint8_t* page = sandbox_->memory().host_base() + p.address;
    EXPECT_EQ(p.checksum, trace::checksum({page, 4096})) << "page " << p.address;
  }
}

TEST_P(RecorderTest, SnapshotAndRestoreStillWorkWhileRecording) {
  ASSERT_NO_FATAL_FAILURE(start("buggy", {.delta_every_exits = 1, .memory_contents = true}));
  auto snap = sandbox_->snapshot();
  EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox_, "add_sample", {int64_t{10}})), 1);
  ASSERT_TRUE(sandbox_->restore(snap));
  EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox_, "add_sample", {int64_t{10}})), 1);
  auto t = finish();
  std::vector<uint8_t> memory(sandbox_->memory().size(), 0);
  for (const auto& p : t.setup.initial_memory)
    std::memcpy(&memory[p.address], p.bytes.data(), 4096);
  for (const auto& d : t.deltas)
    for (const auto& p : d.pages) std::memcpy(&memory[p.address], p.bytes.data(), 4096);
  EXPECT_EQ(std::memcmp(memory.data(), sandbox_->memory().host_base(), memory.size()), 0);
}

TEST_P(RecorderTest, ClockGuestRdtscIsSuppliedAndRecordedOnTheSoftwareVcpu) {
  ASSERT_NO_FATAL_FAILURE(start("clock"));
  if (on_kvm()) {
    // KVM cannot trap rdtsc: the recording warns, naming the site, and records no result.
    ASSERT_EQ(recorder_->warnings().size(), 1u);
    EXPECT_TRUE(recorder_->warnings()[0].starts_with("clock.elf: rdtsc at 0x"));
    // The site is named by symbol and offset (read_tsc+0x8 as built today).
    EXPECT_NE(recorder_->warnings()[0].find(" in read_tsc+0x"), std::string::npos)
        << recorder_->warnings()[0];
    EXPECT_TRUE(recorder_->warnings()[0].ends_with(
        " cannot be recorded on KVM; replay will diverge (use --vcpu unicorn)"))
        << recorder_->warnings()[0];
    call_ok(*sandbox_, "ticks", {int64_t{10}});
    EXPECT_TRUE(finish().nondet.empty());
    return;
  }
  EXPECT_TRUE(recorder_->warnings().empty());
  const int64_t ticks = std::get<int64_t>(call_ok(*sandbox_, "ticks", {int64_t{1000}}));
  const int64_t span = std::get<int64_t>(call_ok(*sandbox_, "stamps", {int64_t{5}}));
  const int64_t stamp = std::get<int64_t>(call_ok(*sandbox_, "stamp"));
  auto t = finish();
  uint64_t rdtsc_site = 0;
  for (const auto& s : image_.instruction_sites()) {
    if (s.kind == vmm::SiteKind::kRdtsc) rdtsc_site = s.address;
  }
  ASSERT_NE(rdtsc_site, 0u);
  ASSERT_EQ(t.nondet.size(), 2u + 5u + 1u);
  for (size_t i = 0; i < t.nondet.size(); ++i) {
    EXPECT_EQ(t.nondet[i].kind, trace::NondetKind::kRdtsc);
    EXPECT_EQ(t.nondet[i].rip, rdtsc_site);
    ASSERT_EQ(t.nondet[i].values.size(), 1u);
    if (i) {
      EXPECT_GE(t.nondet[i].values[0], t.nondet[i - 1].values[0]);  // monotonic clock
    }
  }
  // The guest computed with exactly the recorded values (EDX:EAX written right).
  EXPECT_EQ(ticks, static_cast<int64_t>(t.nondet[1].values[0] - t.nondet[0].values[0]));
  EXPECT_EQ(span, static_cast<int64_t>(t.nondet[6].values[0] - t.nondet[2].values[0]));
  EXPECT_EQ(stamp, static_cast<int64_t>(t.nondet[7].values[0]));
  // No exits besides the halts: a nondet result is not an exit.
  EXPECT_EQ(t.exits.size(), 4u);
  EXPECT_EQ(sandbox_->exit_count(), 4u);
}

TEST(Recorder, RefusesToStartInTheMiddleOfACall) {
  auto sandbox =
      vmm::Sandbox::create_from_file(guest_path("hello"), {.vcpu = vmm::VcpuKind::kUnicorn});
  ASSERT_TRUE(sandbox);
  ASSERT_TRUE((*sandbox)->begin_call("hello"));
  TempTrace trace;
  auto rec = recorder::record_to(**sandbox, trace.path());
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().message, "cannot start recording in the middle of a guest call");
}

TEST(Recorder, AnUnwritablePathIsOneLine) {
  auto sandbox =
      vmm::Sandbox::create_from_file(guest_path("hello"), {.vcpu = vmm::VcpuKind::kUnicorn});
  ASSERT_TRUE(sandbox);
  auto rec = recorder::record_to(**sandbox, "/nonexistent-dir/trace.cap");
  ASSERT_FALSE(rec);
  EXPECT_NE(rec.error().message.find("/nonexistent-dir/trace.cap"), std::string::npos);
  EXPECT_EQ(rec.error().message.find('\n'), std::string::npos);
}

TEST(Recorder, RegisterConversionRoundTrips) {
  vmm::RegisterFile r = vmm::initial_registers(0x100000);
  r.rax = 1, r.rbx = 2, r.r15 = 3, r.rflags = 0x246, r.fs_base = 7, r.cr2 = 9, r.mxcsr = 0x1f81;
  r.xmm[3][5] = 0xab;
  r.st[7][9] = 0xcd;
  const trace::Registers t = recorder::to_trace(r);
  EXPECT_EQ(t.rax, 1u);
  EXPECT_EQ(t.rbx, 2u);
  EXPECT_EQ(t.r15, 3u);
  EXPECT_EQ(t.xmm[3][5], 0xab);
  EXPECT_EQ(recorder::from_trace(t), r);
}

HLRR_INSTANTIATE_FOR_BACKENDS(RecorderTest);

}  // namespace
}  // namespace hlrr::testing
