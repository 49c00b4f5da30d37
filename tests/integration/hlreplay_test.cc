// hlreplay --check end to end: recordings made by `hlrun --record` replay deterministically, and
// the counts it prints are the ones `hltrace info` reads from the trace.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "guests.h"
#include "tests/support/subprocess.h"
#include "trace_format/trace_reader.h"

namespace hlrr::testing {
namespace {

std::string info_field(const std::string& info, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(info, m, std::regex(name + ": +([0-9]+)"))) return "?";
  return m[1];
}

class HlreplayCheck : public BackendTest {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string trace() const { return dir_ + "/run.cap"; }
  std::string dir_ = [] {
    char d[] = "/tmp/hlrr-hlreplay-XXXXXX";
    return std::string(mkdtemp(d));
  }();
};

TEST_P(HlreplayCheck, ReplaysARecordingAndPrintsTheTracesCounts) {
  const std::string n = on_kvm() ? "20" : "400";
  auto rec = run_process({tool_path("hlrun"), guest_path("chatty"), "--vcpu",
                          vmm::to_string(GetParam()), "--call", "chatter", n, "--record", trace()});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  auto info = run_process({tool_path("hltrace"), "info", trace()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto check = run_process({tool_path("hlreplay"), trace(), "--check"});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  const std::string exits = info_field(info.out, "exits");
  // chatter(n) makes n + 1 host calls (n < 1000); plus the two halts (initialisation, call).
  EXPECT_EQ(exits, std::to_string(std::stoi(n) + 1 + 2));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      check.out, m, std::regex("^deterministic: ([0-9]+) exits, ([0-9]+) instructions\n")))
      << check.out;
  EXPECT_EQ(m[1], exits);
  if (!on_kvm()) {
    EXPECT_EQ(m[2], info_field(info.out, "instructions"));
  }
  EXPECT_NE(check.out.find("end: completed"), std::string::npos) << check.out;
  // Not a terminal: no progress bar.
  EXPECT_EQ(check.err, "");
}

TEST_P(HlreplayCheck, ACorruptTraceFailsWithOneLine) {
  auto rec =
      run_process({tool_path("hlrun"), guest_path("chatty"), "--vcpu", vmm::to_string(GetParam()),
                   "--call", "chatter", "300", "--record", trace()});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto size = std::filesystem::file_size(trace());
  FILE* f = std::fopen(trace().c_str(), "r+b");
  ASSERT_TRUE(f);
  std::fseek(f, static_cast<long>(size / 2), SEEK_SET);
  std::fwrite("\xff\xff\xff\xff", 1, 4, f);
  std::fclose(f);
  auto check = run_process({tool_path("hlreplay"), trace(), "--check"});
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_TRUE(std::regex_match(
      check.err, std::regex("hlreplay: .*: chunk [0-9]+ at offset [0-9]+: checksum mismatch\n")))
      << check.err;
}

// Under a debugger the chunks are checked as replay reaches them (gdb connects at once to any
// recording): gdb is served, and replay stops at the damaged chunk with its one line.
TEST(HlreplayDamaged, GdbIsServedAndTheDamagedChunkStopsReplayWhereItIsReached) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  char d[] = "/tmp/hlrr-hlreplay-XXXXXX";
  ASSERT_TRUE(mkdtemp(d));
  const std::string trace = std::string(d) + "/a.cap";
  auto rec = run_process({tool_path("hlrun"), guest_path("chatty"), "--vcpu", "unicorn", "--call",
                          "chatter", "3000", "--record", trace});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  uint64_t offset = 0;  // of a chunk of exits halfway through
  {
    auto reader = trace::TraceReader::open(trace);
    ASSERT_TRUE(reader) << reader.error().message;
    offset = (*reader)->chunks().at((*reader)->chunks().size() / 2).offset;
  }
  FILE* f = std::fopen(trace.c_str(), "r+b");
  ASSERT_TRUE(f);
  std::fseek(f, static_cast<long>(offset + trace::kChunkHeaderSize + 10), SEEK_SET);
  std::fwrite("\xff\xff\xff\xff", 1, 4, f);
  std::fclose(f);
  auto gdb = run_process({tool_path("hlreplay"), trace, "--gdb"}, std::chrono::seconds(60),
                         "info symbol $pc\ncontinue\nkill\nquit\n");
  std::filesystem::remove_all(d);
  EXPECT_EQ(gdb.exit_code, 0) << gdb.out << gdb.err;
  EXPECT_NE(gdb.out.find("_start in section .text"), std::string::npos) << gdb.out;
  EXPECT_TRUE(std::regex_search(
      gdb.out + gdb.err, std::regex("replay diverged: reading the recording: chunk [0-9]+ at "
                                    "offset [0-9]+: checksum mismatch")))
      << gdb.out << gdb.err;
  EXPECT_NE(gdb.out.find("Program received signal SIGABRT"), std::string::npos) << gdb.out;
}

// --gdb: gdb started on the recording's embedded ELF (no path to the guest given), commands
// from stdin.
TEST_P(HlreplayCheck, GdbStartsConnectedWithTheRecordingsSymbols) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  auto rec =
      run_process({tool_path("hlrun"), guest_path("hello"), "--vcpu", vmm::to_string(GetParam()),
                   "--call", "greet", "replay", "--record", trace()});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  auto gdb = run_process({tool_path("hlreplay"), trace(), "--gdb"}, std::chrono::seconds(60),
                         // greet's entry (`break greet` stops after the -O0 prologue):
                         // one reverse-stepi from there is back in the caller.
                         "break *greet\ncontinue\ninfo symbol $pc\nreverse-stepi\ninfo symbol $pc\n"
                         "kill\nquit\n");
  EXPECT_EQ(gdb.exit_code, 0) << gdb.out << gdb.err;
  EXPECT_NE(gdb.out.find("Breakpoint 1, greet ("), std::string::npos) << gdb.out;
  EXPECT_NE(gdb.out.find("greet in section .text"), std::string::npos) << gdb.out;
  EXPECT_NE(gdb.out.find("hl_dispatch + "), std::string::npos) << gdb.out;
}

HLRR_INSTANTIATE_FOR_BACKENDS(HlreplayCheck);

TEST(HlreplayUsage, ATracePathThatIsNotARegularFileIsOneLineAndExitStatusTwo) {
  // A FIFO once blocked hlreplay forever in open().
  const std::string fifo = "/tmp/hlrr-hlreplay-fifo-" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {std::string("/tmp"), std::string("/dev/zero"), fifo}) {
    auto r = run_process({tool_path("hlreplay"), path, "--check"}, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 2) << path << ": " << r.err;
    EXPECT_EQ(r.err, "hlreplay: " + path + ": not a regular file\n");
  }
  ::unlink(fifo.c_str());
}

TEST(HlreplayUsage, ConflictingOrEmptyOptionsAreUsageErrors) {
  // --check replays without a debugger: -g beside it was silently ignored.
  auto r = run_process({tool_path("hlreplay"), "/nonexistent.cap", "--check", "-g", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--check excludes -g"), std::string::npos) << r.err;
  r = run_process({tool_path("hlreplay"), "/nonexistent.cap", "-g", ""});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "hlreplay: -g: expected PORT or ADDR:PORT, got ''\n");
}

TEST(HlreplayUsage, AMemoryBudgetThatIsNotAPositiveNumberOfMibIsAUsageError) {
  for (const char* budget : {"0", "lots", "-5"}) {
    auto r = run_process(
        {tool_path("hlreplay"), "/nonexistent.cap", "-g", "0", "--memory-budget", budget});
    EXPECT_EQ(r.exit_code, 2) << budget;
    EXPECT_EQ(r.err.rfind("--memory-budget: ", 0), 0u) << r.err;
  }
}

// `cat a.cap a.cap`: the last footer is the second copy's and does not fit the file. Both tools
// fall back to the chunk scan and agree: a truncated trace whose first copy replays whole.
TEST(HlreplayTruncated, ATraceCatenatedTwiceVerifiesTruncatedAndReplays) {
  char d[] = "/tmp/hlrr-hlreplay-XXXXXX";
  ASSERT_TRUE(mkdtemp(d));
  const std::string dir = d;
  auto rec = run_process({tool_path("hlrun"), guest_path("chatty"), "--vcpu", "unicorn", "--call",
                          "chatter", "300", "--record", dir + "/a.cap"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  shell("cat " + dir + "/a.cap " + dir + "/a.cap > " + dir + "/b.cap");
  auto verify = run_process({tool_path("hltrace"), "verify", dir + "/b.cap"});
  EXPECT_EQ(verify.exit_code, 3) << verify.out << verify.err;
  EXPECT_NE((verify.out + verify.err).find("truncated (footer does not fit the file: "),
            std::string::npos)
      << verify.out << verify.err;
  auto check = run_process({tool_path("hlreplay"), dir + "/b.cap", "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_TRUE(std::regex_search(check.out, std::regex("^deterministic: 303 exits, [0-9]+ "
                                                      "instructions\nend: completed\n")))
      << check.out;
  std::filesystem::remove_all(dir);
}

// Code the loader's scan never saw (written at run time) must not run rdtsc/rdrand/hlt/syscall
// unrecorded (Unicorn 2.0.1 skips a syscall as if it were a nop), and a jump to a non-canonical
// address is #GP: hlrun names the cause, and replay of the recording ends in the same fault, at
// the same RIP.
TEST(HlreplayFaults, UnscannedInstructionsAndWildJumpsEndTheSameLiveAndReplayed) {
  char d[] = "/tmp/hlrr-hlreplay-XXXXXX";
  ASSERT_TRUE(mkdtemp(d));
  const std::string trace = std::string(d) + "/run.cap";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"written_code", "0"},
       "unsupported instruction at 0x[0-9a-f]+ in g_code: rdtsc in code the loader did not "
       "scan \\(written at run time\\)"},
      {{"written_code", "1"},
       "unsupported instruction at 0x[0-9a-f]+ in g_code\\+0x2: rdrand in code the loader did "
       "not scan \\(written at run time\\)"},
      {{"written_code", "2"},
       "unsupported instruction at 0x[0-9a-f]+ in g_code: hlt in code the loader did not scan "
       "\\(written at run time\\)"},
      {{"written_code", "3"},
       "unsupported instruction at 0x[0-9a-f]+ in g_code: syscall in code the loader did not "
       "scan \\(written at run time\\)"},
      // (No symbol there: the fault line names the address twice, as for any such RIP.)
      {{"wild_jump"}, "#GP at 0x8000000000000000 in 0x8000000000000000"},
  };
  for (const auto& [call, line] : cases) {
    SCOPED_TRACE(call.front());
    std::vector<std::string> args = {
        tool_path("hlrun"), guest_path("faults"), "--vcpu", "unicorn", "--record", trace, "--call"};
    args.insert(args.end(), call.begin(), call.end());
    auto rec = run_process(args);
    EXPECT_EQ(rec.exit_code, 1) << rec.out << rec.err;
    EXPECT_TRUE(std::regex_match(rec.err, std::regex("hlrun: guest fault: " + line + "\n")))
        << rec.err;
    auto check = run_process({tool_path("hlreplay"), trace, "--check"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    EXPECT_TRUE(std::regex_search(check.out, std::regex("end: guest fault: " + line + "\n")))
        << check.out;
    // The same RIP live and replayed: the recorded fault line is hlrun's.
    const std::string prefix = "hlrun: guest fault: ";
    ASSERT_TRUE(rec.err.starts_with(prefix)) << rec.err;
    EXPECT_NE(check.out.find("end: guest fault: " + rec.err.substr(prefix.size())),
              std::string::npos)
        << check.out << rec.err;
  }
  std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace hlrr::testing
