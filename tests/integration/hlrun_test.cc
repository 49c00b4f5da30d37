// hlrun, the binary, as a user runs it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "tests/integration/guests.h"
#include "tests/support/subprocess.h"

namespace hlrr::testing {
namespace {

TEST(Hlrun, RunsAGuestFunctionAndPrintsItsResult) {
  auto r = run_hlrun({guest_path("hello"), "--call", "greet", "world"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello, world!\nresult: 14\n");
  r = run_hlrun({guest_path("hello")});  // no --call: main
  EXPECT_EQ(r.out, "Hello from the hlrr guest!\nresult: 42\n");
  r = run_hlrun({guest_path("compute"), "--call", "fib", "0x5a"});
  EXPECT_EQ(r.out, "result: 2880067194370816120\n");
  r = run_hlrun({guest_path("hello"), "--call", "greet", "s:42"});  // forced string
  EXPECT_EQ(r.out, "Hello, 42!\nresult: 11\n");
}

TEST(Hlrun, AGuestFaultIsOneLineAndExitStatusOne) {
  auto r = run_hlrun({guest_path("faults"), "--call", "null_deref"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(std::regex_match(r.err, std::regex("hlrun: guest fault: #PF at 0x[0-9a-f]+ in "
                                                 "null_deref\\+0x[0-9a-f]+ \\(address 0x0\\)\n")))
      << r.err;
  r = run_hlrun({guest_path("faults"), "--call", "infinite_loop", "--timeout", "100"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(std::regex_match(
      r.err,
      std::regex("hlrun: guest fault: timeout at 0x[0-9a-f]+ in infinite_loop\\+0x[0-9a-f]+\n")))
      << r.err;
}

TEST(Hlrun, BadInputIsOneLineAndExitStatusTwo) {
  auto r = run_hlrun({"/nonexistent.elf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "hlrun: cannot open /nonexistent.elf: No such file or directory\n");
  r = run_hlrun({std::string(HLRR_SOURCE_DIR) + "/README.md"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "hlrun: " + std::string(HLRR_SOURCE_DIR) + "/README.md: not an ELF file (bad magic)\n");
  r = run_hlrun({guest_path("hello"), "--mem", "lots"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "hlrun: --mem: invalid size 'lots' (e.g. 4M, 512K, 1G)\n");
  r = run_hlrun({guest_path("hello"), "--mem", "1M"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "hlrun: guest memory size must be a multiple of 4 KiB between 2 MiB and 4 GiB\n");
  r = run_hlrun({guest_path("hello"), "--vcpu", "abacus"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Hlrun, AGuestPathThatIsNotARegularFileIsOneLineAndExitStatusTwo) {
  // A directory once threw an uncaught ios_failure; /dev/zero was read until bad_alloc; a
  // FIFO blocked forever.
  const std::string fifo = "/tmp/hlrr-hlrun-fifo-" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {std::string("/tmp"), std::string("/dev/zero"), fifo}) {
    auto r = run_hlrun({path});
    EXPECT_EQ(r.exit_code, 2) << path << ": " << r.err;
    EXPECT_EQ(r.err, "hlrun: " + path + ": not a regular file\n");
  }
  ::unlink(fifo.c_str());
}

TEST(Hlrun, UnknownFunctionsAndWrongArgumentsAreUsageErrors) {
  // --help says: bad arguments exit 2; a guest fault exits 1.
  auto r = run_hlrun({guest_path("hello"), "--vcpu", "unicorn", "--call", "nosuch"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "hlrun: guest error: no guest function named 'nosuch'\n");
  r = run_hlrun({guest_path("hello"), "--vcpu", "unicorn", "--call", "greet", "7"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "hlrun: guest error: function 'greet' argument 1 must be string ('s'), got i64\n");
}

TEST(Hlrun, GuestTextIsEscapedOnTheTerminal) {
  // The guest echoes the unknown name: its escapes and newlines must not reach the terminal.
  auto r = run_hlrun({guest_path("hello"), "--vcpu", "unicorn", "--call", "bad\x1b[31mname\nX"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "hlrun: guest error: no guest function named 'bad\\x1b[31mname\\nX'\n");
}

TEST(Hlrun, IntegerArgumentsAreDecimalOrHexAndMustFit) {
  auto r = run_hlrun({guest_path("compute"), "--vcpu", "unicorn", "--call", "fib", "010"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "result: 55\n");  // F(10), not F(8): no octal
  r = run_hlrun(
      {guest_path("compute"), "--vcpu", "unicorn", "--call", "fib", "0x8000000000000000"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "hlrun: --call: argument '0x8000000000000000' is out of range for a 64-bit integer "
            "(s:TEXT passes text)\n");
  r = run_hlrun(
      {guest_path("compute"), "--vcpu", "unicorn", "--call", "fib", "-9223372036854775809"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_hlrun(
      {guest_path("hello"), "--vcpu", "unicorn", "--call", "greet", "0x"});  // not a number
  EXPECT_EQ(r.out, "Hello, 0x!\nresult: 11\n");
}

TEST(Hlrun, TimeoutsOutOfRangeAreRefused) {
  for (const char* bad : {"-1", "10000000000000", "9223372036854775807"}) {
    auto r = run_hlrun({guest_path("hello"), "--vcpu", "unicorn", "--timeout", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(r.out, "") << bad;
    EXPECT_NE(r.err.find("--timeout"), std::string::npos) << r.err;
  }
  // The largest accepted limit is a limit far away, not an instant timeout.
  auto r = run_hlrun({guest_path("hello"), "--vcpu", "unicorn", "--timeout", "31536000000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello from the hlrr guest!\nresult: 42\n");
}

TEST(Hlrun, EmptyDebugPortOrRecordPathIsAnError) {
  auto r = run_hlrun({guest_path("hello"), "--vcpu", "unicorn", "-g", ""});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "hlrun: -g: expected PORT or ADDR:PORT, got ''\n");
  r = run_hlrun({guest_path("hello"), "--vcpu", "unicorn", "--record", ""});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "hlrun: --record: empty trace path\n");
}

TEST(Hlrun, AutoPicksKvmWhereUsableAndExplicitKvmFailsClearlyWhereNot) {
  auto r = run_hlrun({guest_path("hello"), "-v"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const bool kvm = vmm::KvmVcpu::available().has_value();
  EXPECT_NE(r.err.find(kvm ? "hlrun: vcpu backend: kvm\n" : "hlrun: vcpu backend: unicorn\n"),
            std::string::npos)
      << r.err;
  if (!kvm) {
    r = run_hlrun({guest_path("hello"), "--vcpu", "kvm"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err.rfind("hlrun: KVM is not usable here: ", 0), 0u) << r.err;
  }
}

TEST(Hlrun, HelpListsEveryOption) {
  auto r = run_hlrun({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option : {"--call", "--vcpu", "--timeout", "--mem", "--verbose"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  }
}

// A file size limit stands in for a full disk: the trace's first chunks fit, a later one fails.
// The call still ran: its result is printed, then the recording's failure, and the exit status
// says the run was not what was asked for.
TEST(Hlrun, ARecordingThatRunsOutOfSpaceStillPrintsTheResultAndSaysWhy) {
  char dir[] = "/tmp/hlrr-hlrun-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  const std::string trace = std::string(dir) + "/run.cap";
  auto r = run_process({"/bin/bash", "-c", "trap '' XFSZ; ulimit -f 64; exec \"$@\"", "bash",
                        tool_path("hlrun"), guest_path("chatty"), "--vcpu", "unicorn", "--call",
                        "chatter", "20000", "--timeout", "120000", "--record", trace});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(r.out.ends_with("chatter: done, 20000 clock_ns calls\nresult: 20021\n")) << r.out;
  EXPECT_TRUE(std::regex_match(
      r.err, std::regex("hlrun: --record: cannot write trace .*/run.cap: File too large\n")))
      << r.err;
}

TEST(Hlrun, VerboseNamesTheBackendAndCountsExits) {
  auto r = run_hlrun({guest_path("chatty"), "--call", "chatter", "10", "-v", "--vcpu", "unicorn"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("hlrun: vcpu backend: unicorn\n"), std::string::npos) << r.err;
  // boot (1 halt) + 10 clock_ns + 1 print + the final halt
  EXPECT_NE(r.err.find("hlrun: 13 exits\n"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hlrr::testing

namespace hlrr::testing {
namespace {

TEST(HostExample, ServesAPoolOfCallsFromTheCleanState) {
  auto r =
      run_process({std::string(HLRR_BINARY_DIR) + "/examples/host_example", guest_path("hello")},
                  std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "greet(Ada) = 12\ngreet(Grace) = 14\ngreet(Barbara) = 16\n"
            "the guest printed:\nHello, Ada!\nHello, Grace!\nHello, Barbara!\n");
}

}  // namespace
}  // namespace hlrr::testing
