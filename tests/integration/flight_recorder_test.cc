// The flight recorder (recorder::flight_record, hlrun --flight-recorder): over many calls it
// keeps only the failing one (and the K before it) as a trace that replays to the same fault,
// in bounded memory, and a kill -9 of the host loses no kept trace.
#include "recorder/flight_recorder.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "recorder/convert.h"
#include "tests/integration/live_debug.h"
#include "tests/recorder/recorder_test_util.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> traces_in(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::unique_ptr<vmm::Sandbox> unicorn_sandbox(const std::string& guest, std::string* output) {
  vmm::SandboxConfig config;
  config.vcpu = vmm::VcpuKind::kUnicorn;
  vmm::add_standard_host_functions(config.host_functions);
  return make_sandbox(guest, output, std::move(config));
}

class FlightRecorderTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string output_;
};

// 10,000 calls, the 7,000th faults: exactly one trace is kept, holding calls 6,998-7,000; it
// ends at the live fault's RIP and instruction count (counted from its own start) and replays.
TEST_F(FlightRecorderTest, KeepsOnlyTheFaultingCallOf10000AndTheTwoBeforeIt) {
  auto sandbox = unicorn_sandbox("faults", &output_);
  ASSERT_TRUE(sandbox);
  const std::string kept_dir = dir_.path("kept");
  constexpr uint64_t kBudget = 256 * 1024;
  auto flight = recorder::flight_record(*sandbox, {.directory = kept_dir,
                                                   .guest_name = "faults.elf",
                                                   .calls_before = 2,
                                                   .max_buffer_bytes = kBudget});
  ASSERT_TRUE(flight) << flight.error().message;
  uint64_t window_start = 0, fault_count = 0, fault_rip = 0;
  for (int i = 1; i <= 10'000; ++i) {
    if (i == 6'998) window_start = sandbox->vcpu().instruction_count();
    if (i != 7'000) {
      ASSERT_EQ(std::get<int64_t>(call_ok(*sandbox, "still_alive")), 1);
      continue;
    }
    auto result = sandbox->call("null_deref", {});
    ASSERT_FALSE(result);
    fault_rip = result.error().rip;
    fault_count = sandbox->vcpu().instruction_count();
  }
  ASSERT_EQ((*flight)->kept().size(), 1u);
  const recorder::KeptTrace kept = (*flight)->kept()[0];
  EXPECT_EQ(kept.first_call, 6'998u);
  EXPECT_EQ(kept.last_call, 7'000u);
  EXPECT_CONTAINS(kept.reason, "#PF at");
  EXPECT_EQ(traces_in(kept_dir), std::vector<std::string>{kept.path});
  EXPECT_EQ(fs::path(kept.path).filename(), "faults.elf-call7000-null_deref.cap");
  // The buffer's own accounting: never above its bound, and it did hold calls.
  EXPECT_LE((*flight)->peak_buffered_bytes(), kBudget);
  EXPECT_GT((*flight)->peak_buffered_bytes(), 0u);
  EXPECT_EQ((*flight)->calls_seen(), 10'000u);

  const TraceContents t = read_trace(kept.path);
  EXPECT_FALSE(t.truncated);
  ASSERT_EQ(t.calls.size(), 3u);
  EXPECT_EQ(t.calls[0].function, "still_alive");
  EXPECT_EQ(t.calls[1].function, "still_alive");
  EXPECT_EQ(t.calls[2].function, "null_deref");
  ASSERT_EQ(t.ends.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(std::get<0>(t.ends[0].outcome)), 1);
  ASSERT_TRUE(t.ends[2].is_error());
  EXPECT_CONTAINS(std::get<1>(t.ends[2].outcome), "#PF at");
  EXPECT_EQ(t.end.kind, trace::EndKind::kGuestFault);
  ASSERT_FALSE(t.exits.empty());
  EXPECT_EQ(t.exits.front().sequence, 0u);
  const trace::Exit& fault = t.exits.back();
  EXPECT_EQ(fault.kind, trace::ExitKind::kException);
  EXPECT_EQ(fault.registers.rip, fault_rip);
  EXPECT_EQ(fault.instruction_count, fault_count - window_start);
  EXPECT_EQ(t.setup.initial_registers, *t.calls[0].registers);

  const ProcessResult check = run_process({tool_path("hlreplay"), kept.path, "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_CONTAINS(check.out, "deterministic: " + std::to_string(t.exits.size()) + " exits, " +
                                 std::to_string(fault_count - window_start) + " instructions");
}

// buggy.c's state-dependent bug: the 17th add_sample corrupts count, mean() is then wrong. The
// host keeps mean() after looking at its result: the trace starts from memory as it was at that
// call's start (count already overwritten with 1000), or K calls earlier (14 samples, before
// add_sample(150)).
TEST_F(FlightRecorderTest, TheHostKeepsAWrongResultWithTheStateItStartedFrom) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  for (const uint64_t before : {uint64_t{0}, uint64_t{3}}) {
    SCOPED_TRACE(before);
    auto sandbox = unicorn_sandbox("buggy", &output_);
    ASSERT_TRUE(sandbox);
    const std::string kept_dir = dir_.path("kept" + std::to_string(before));
    auto flight = recorder::flight_record(
        *sandbox, {.directory = kept_dir, .guest_name = "buggy.elf", .calls_before = before});
    ASSERT_TRUE(flight) << flight.error().message;
    base::Expected<vmm::Value, vmm::Fault> mean = vmm::Value{};
    for (const auto& c : buggy_off_by_one_calls()) mean = sandbox->call(c.function, c.args);
    ASSERT_TRUE(mean);
    ASSERT_EQ(std::get<int64_t>(*mean), 1);  // 1360 / 1000: the bug
    ASSERT_TRUE((*flight)->kept().empty());
    auto kept = (*flight)->keep_last_call("mean is wrong");
    ASSERT_TRUE(kept) << kept.error().message;
    EXPECT_EQ(kept->last_call, 18u);
    EXPECT_EQ(kept->first_call, 18u - before);
    const TraceContents t = read_trace(kept->path);
    ASSERT_EQ(t.calls.size(), before + 1);
    EXPECT_EQ(t.calls.back().function, "mean");
    EXPECT_EQ(t.end.kind, trace::EndKind::kCompleted);
    EXPECT_EQ(t.end.message, "kept by the host: mean is wrong");
    const ProcessResult check = run_process({tool_path("hlreplay"), kept->path, "--check"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    EXPECT_CONTAINS(check.out, "deterministic: ");
    ReplayServer server(kept->path);
    ASSERT_NE(server.port(), 0);
    const std::string out =
        gdb_session("buggy", server.port(),
                    {"print g_stats.count", "break mean", "continue", "print g_stats.count"});
    EXPECT_CONTAINS(out, before == 0 ? "$1 = 1000" : "$1 = 14");
    EXPECT_CONTAINS(out, "$2 = 1000");
  }
}

// The bound holds whatever the calls do: with room for fewer than K calls the oldest go, and
// what is kept still replays (memory taken back only as far as the calls kept); a call that
// alone outgrows the bound cannot be kept, says so, and the next one can.
TEST_F(FlightRecorderTest, TheBufferStaysWithinItsBoundAndDropsTheOldestCallsFirst) {
  auto sandbox = unicorn_sandbox("chatty", &output_);
  ASSERT_TRUE(sandbox);
  constexpr uint64_t kBudget = 512 * 1024;
  std::vector<std::string> notices;
  recorder::FlightOptions options{.directory = dir_.path("kept"),
                                  .guest_name = "chatty.elf",
                                  .calls_before = 40,
                                  .max_buffer_bytes = kBudget};
  options.notice = [&](const std::string& line) { notices.push_back(line); };
  auto flight = recorder::flight_record(*sandbox, std::move(options));
  ASSERT_TRUE(flight) << flight.error().message;
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox, "chatter", {int64_t{100}})), 101);
  EXPECT_LE((*flight)->peak_buffered_bytes(), kBudget);
  EXPECT_GT((*flight)->peak_buffered_bytes(), kBudget / 2);
  auto kept = (*flight)->keep_last_call("bound");
  ASSERT_TRUE(kept) << kept.error().message;
  const TraceContents t = read_trace(kept->path);
  EXPECT_EQ(kept->last_call, 50u);
  EXPECT_LT(t.calls.size(), 41u);  // the bound, not K, limited it
  EXPECT_GT(t.calls.size(), 1u);
  EXPECT_EQ(kept->first_call, 51u - t.calls.size());
  EXPECT_EQ(t.exits.size(), 102u * t.calls.size());  // 101 host calls and the halt, each
  const ProcessResult check = run_process({tool_path("hlreplay"), kept->path, "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_CONTAINS(check.out, "deterministic: " + std::to_string(t.exits.size()) + " exits");

  EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox, "chatter", {int64_t{20'000}})), 20'021);
  EXPECT_LE((*flight)->peak_buffered_bytes(), kBudget);
  auto too_big = (*flight)->keep_last_call("too big");
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().message,
            "cannot keep call 51 (chatter): its recording outgrew the flight recorder's " +
                std::to_string(kBudget) + "-byte buffer");
  EXPECT_EQ(std::get<int64_t>(call_ok(*sandbox, "chatter", {int64_t{5}})), 6);
  auto after = (*flight)->keep_last_call("after");
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->first_call, 52u);  // nothing before the call that could not be buffered
  EXPECT_EQ(read_trace(after->path).calls.size(), 1u);
  EXPECT_EQ(notices.size(), 2u);
}

// A calls file of `total` calls of still_alive, with `fault` in place of the calls numbered in
// `faulting` (from 1), then `last` if not empty.
std::string calls_file(const std::string& path, int total, const std::set<int>& faulting,
                       const std::string& fault, const std::string& last = "") {
  std::ofstream out(path);
  for (int i = 1; i <= total; ++i) out << (faulting.count(i) ? fault : "still_alive") << "\n";
  if (!last.empty()) out << last << "\n";
  return path;
}

// hlrun --flight-recorder over 10,000 calls, one of which faults: the session goes on, one
// trace is kept (call 5,000 and the one before), and it replays to the same fault: hlreplay
// --check, and gdb on hlreplay -g, which stops at the RIP hlrun reported, on the faulting line.
TEST_F(FlightRecorderTest, HlrunKeepsTheFaultingCallAndGdbFindsTheFaultInIt) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  const std::string kept_dir = dir_.path("kept");
  const std::string calls = calls_file(dir_.path("calls.txt"), 10'000, {5'000}, "null_deref");
  const ProcessResult run =
      run_process({tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--calls", calls,
                   "--flight-recorder", kept_dir, "--flight-before", "1"},
                  std::chrono::seconds(300));
  EXPECT_EQ(run.exit_code, 1) << run.err.substr(0, 2000);
  EXPECT_CONTAINS(run.out, "[4999] result: 1\n[5001] result: 1\n");
  EXPECT_CONTAINS(run.out, "[10000] result: 1\n");
  EXPECT_CONTAINS(run.err, "hlrun: [5000] null_deref: guest fault: #PF at 0x");
  const std::string path = kept_dir + "/faults.elf-call5000-null_deref.cap";
  EXPECT_CONTAINS(
      run.err,
      "hlrun: flight recorder: kept call 5000 (null_deref) and the 1 before it in " + path + "\n");
  ASSERT_EQ(traces_in(kept_dir), std::vector<std::string>{path});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(run.err, m, std::regex("#PF at (0x[0-9a-f]+)")));
  const std::string rip = m[1];

  const TraceContents t = read_trace(path);
  ASSERT_EQ(t.calls.size(), 2u);
  ASSERT_FALSE(t.exits.empty());
  const uint64_t count = t.exits.back().instruction_count;
  EXPECT_EQ(hex_address(t.exits.back().registers.rip), rip);
  const ProcessResult check = run_process({tool_path("hlreplay"), path, "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_CONTAINS(check.out, "deterministic: " + std::to_string(t.exits.size()) + " exits, " +
                                 std::to_string(count) + " instructions");
  EXPECT_CONTAINS(check.out, "#PF at " + rip);

  ReplayServer server(path);
  ASSERT_NE(server.port(), 0);
  const std::string out = gdb_session("faults", server.port(),
                                      {"continue", "printf \"PC %lx\\n\", $pc", "monitor when"});
  // The recording ends at the fault: gdb stops there, on the faulting line.
  EXPECT_CONTAINS(out, "in null_deref (args=");
  EXPECT_CONTAINS(out, "faults.c:34\n34\t  return hl_i64(*p);");
  EXPECT_CONTAINS(out, "PC " + rip.substr(2) + "\n");
  EXPECT_CONTAINS(out, "instruction " + std::to_string(count) + ", after exit " +
                           std::to_string(t.exits.size() - 1));
  EXPECT_CONTAINS(out, "(guest fault: #PF at " + rip + " in null_deref");
}

// The state a kept trace starts from: with --fresh the post-initialisation snapshot (each call
// starts there), without it whatever the calls before left. deep_fault(n) sets g_deep_marker =
// n, then faults; the second fault's trace starts with the first's 7 only without --fresh.
TEST_F(FlightRecorderTest, AKeptTraceStartsFromThePostInitSnapshotWithFresh) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  for (const bool fresh : {true, false}) {
    SCOPED_TRACE(fresh);
    const std::string kept_dir = dir_.path(fresh ? "fresh" : "carried");
    std::vector<std::string> argv = {
        tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--flight-recorder",
        kept_dir,           "--flight-before",    "1"};
    for (const char* call : {"still_alive", "deep_fault 7", "still_alive", "deep_fault 9"}) {
      argv.push_back("--call");
      std::istringstream words(call);
      for (std::string w; words >> w;) argv.push_back(w);
    }
    if (fresh) argv.push_back("--fresh");
    const ProcessResult run = run_process(argv);
    EXPECT_EQ(run.exit_code, 1) << run.err;
    const std::string path = kept_dir + "/faults.elf-call4-deep_fault.cap";
    ASSERT_EQ(traces_in(kept_dir).size(), 2u) << run.err;
    ASSERT_TRUE(fs::exists(path)) << run.err;
    EXPECT_EQ(read_trace(path).calls.size(), 2u);
    ReplayServer server(path);
    ASSERT_NE(server.port(), 0);
    const std::string out =
        gdb_session("faults", server.port(),
                    {"print g_deep_marker", "continue", "print g_deep_marker", "bt 1"});
    EXPECT_CONTAINS(out, fresh ? "$1 = 0\n" : "$1 = 7\n");
    EXPECT_CONTAINS(out, "$2 = 9\n");
    EXPECT_CONTAINS(out, "deep_inner (p=0x0)");
  }
}

// kill -9 of a host whose flight recorder kept three traces (calls 40, 80, 120 fault) while it
// hangs in a later call (an infinite loop, no time limit): every kept trace is on disk, whole.
TEST_F(FlightRecorderTest, KillMinus9OfTheHostLosesNoKeptTrace) {
  const std::string kept_dir = dir_.path("kept");
  const std::string calls =
      calls_file(dir_.path("calls.txt"), 150, {40, 80, 120}, "panic", "infinite_loop");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string hlrun = tool_path("hlrun"), guest = guest_path("faults");
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl(hlrun.c_str(), hlrun.c_str(), guest.c_str(), "--vcpu", "unicorn", "--timeout", "0",
          "--calls", calls.c_str(), "--flight-recorder", kept_dir.c_str(), "--flight-before", "2",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for the three traces, then for the session to reach the endless call.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((!fs::is_directory(kept_dir) || traces_in(kept_dir).size() < 3) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "hlrun ended before the kill: " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  std::vector<std::string> expected;
  for (const char* n : {"120", "40", "80"})
    expected.push_back(kept_dir + "/faults.elf-call" + n + "-panic.cap");
  ASSERT_EQ(traces_in(kept_dir), expected);
  for (const std::string& path : expected) {
    const ProcessResult verify = run_process({tool_path("hltrace"), "verify", path});
    EXPECT_EQ(verify.exit_code, 0) << path << ": " << verify.out << verify.err;
    const TraceContents t = read_trace(path);
    EXPECT_FALSE(t.truncated);
    EXPECT_EQ(t.calls.size(), 3u);
    EXPECT_EQ(t.end.kind, trace::EndKind::kGuestFault);
    ASSERT_FALSE(t.ends.empty());
    EXPECT_CONTAINS(std::get<1>(t.ends.back().outcome), "panic");
  }
}

}  // namespace
}  // namespace hlrr::testing
