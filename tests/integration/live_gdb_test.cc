// Live debugging end to end: real gdb against `hlrun -g 0` on both vCPU backends, with the
// example guests. Every session asserts values (registers, variables, lines, results).
#include <regex>
#include <sstream>

#include "tests/integration/live_debug.h"
#include "tests/support/subprocess.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

uint64_t symbol(const std::string& guest, const std::string& name) {
  auto image = vmm::ElfImage::read_file(guest_path(guest));
  if (!image) return 0;
  return image->symbols().address_of(name).value_or(0);
}

class LiveGdb : public GdbBackendTest {};

TEST_P(LiveGdb, BreakByNameBacktraceLocalsGlobalsNextFinish) {
  DebuggedHlrun hlrun(backend(), "hello", "greet world");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out =
      gdb_session("hello", hlrun.port(),
                  {"break greet", "continue", "info registers rip", "bt",
                   "print (const char*)args[0].u.buf.ptr", "break hello.c:28", "continue",
                   "print len", "print kGreeting", "next", "info line *$pc", "finish", "continue"});
  // At greet's first statement (line 20), after its prologue, as gdb does on a -O0 program.
  const uint64_t first_statement = line_address("hello", "hello.c:20");
  ASSERT_GT(first_statement, symbol("hello", "greet"));
  EXPECT_CONTAINS(out, "rip            " + hex_address(first_statement) + " ");
  EXPECT_CONTAINS(out, "#0  greet (");
  EXPECT_CONTAINS(out, "#1  0x");
  EXPECT_CONTAINS(out, " in hl_dispatch () at ");
  EXPECT_CONTAINS(out, "#2  0x");
  EXPECT_CONTAINS(out, " in hl_dispatch_entry () at ");
  EXPECT_CONTAINS(out, "\"world\"");
  EXPECT_CONTAINS(out, "$2 = 14\n");
  EXPECT_CONTAINS(out, "$3 = \"Hello from the hlrr guest!\\n\"");
  // `next` over hl_print (a host call) lands on the following line.
  EXPECT_CONTAINS(out, "Line 29 of \"");
  EXPECT_CONTAINS(out, "Value returned is $4 = {type = 1, reserved = 0, u = {i64 = 14,");
  EXPECT_CONTAINS(out, "[Inferior 1 (process 1) exited normally]");
  const std::string rest = hlrun.finish();
  EXPECT_CONTAINS(rest, "Hello, world!\n");
  EXPECT_CONTAINS(rest, "result: 14\n");
  EXPECT_EQ(hlrun.exit_code(), 0);
}

// The SDK's debug profile (-O0 -g3): gdb's habits hold as on a native -O0 program. `break f`
// stops on f's first statement (buggy.c:31; -Og put it on the `{` line, 29), `next` goes
// statement by statement, `finish` prints the value returned.
TEST_P(LiveGdb, DebugProfileBreakStopsOnTheFirstStatement) {
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 5");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = gdb_session(
      "buggy", hlrun.port(),
      {"break add_sample", "continue", "info line *$pc", "print v", "next", "info line *$pc",
       "print v", "next", "next", "info line *$pc", "print slot", "finish", "continue"});
  EXPECT_CONTAINS(out, "Breakpoint 1 at 0x");
  EXPECT_CONTAINS(out, "buggy.c, line 31.\n");
  EXPECT_CONTAINS(out, "Breakpoint 1, add_sample (args=0x");
  EXPECT_CONTAINS(out, "31\t  const int64_t v = hl_as_i64(args[0]);\n");
  EXPECT_CONTAINS(out, "Line 31 of \"");
  EXPECT_CONTAINS(out, "Line 32 of \"");
  EXPECT_CONTAINS(out, "$2 = 5\n");  // v, once line 31 ran
  EXPECT_CONTAINS(out, "Line 34 of \"");
  EXPECT_CONTAINS(out, "$3 = 0\n");            // slot
  EXPECT_CONTAINS(out, "hl_dispatch () at ");  // finish: back in the caller
  EXPECT_CONTAINS(out, "Value returned is $4 = {type = 1, reserved = 0, u = {i64 = 1,");
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), "result: 1\n");
}

// Inferior calls live: gdb writes registers and the return address, sets a breakpoint at the
// entry point, continues, and restores the registers; the call then runs on unchanged.
TEST_P(LiveGdb, PrintCallsAGuestFunction) {
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 30");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out =
      gdb_session("buggy", hlrun.port(),
                  {"break add_sample", "continue", "print square(7)", "print square(args[0].u.i64)",
                   "next", "print v", "continue"});
  EXPECT_CONTAINS(out, "$1 = 49\n");
  EXPECT_CONTAINS(out, "$2 = 900\n");
  EXPECT_CONTAINS(out, "$3 = 30\n");
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), "result: 1\n");
}

TEST_P(LiveGdb, StepiFollowsObjdumpAndXReadsMemory) {
  // greet's first instructions, as objdump decodes them.
  const uint64_t greet = symbol("hello", "greet");
  const std::string dump =
      shell("objdump -d --no-show-raw-insn --start-address=" + hex_address(greet) +
            " --stop-address=" + hex_address(greet + 0x20) + " " + guest_path("hello"));
  std::vector<uint64_t> addresses;
  std::istringstream lines(dump);
  for (std::string line; std::getline(lines, line);) {
    unsigned long long a = 0;
    char colon = 0;
    if (std::sscanf(line.c_str(), " %llx%c", &a, &colon) == 2 && colon == ':' && a >= greet) {
      ASSERT_EQ(line.find("\tj"), std::string::npos) << "a branch in greet's prologue: " << line;
      addresses.push_back(a);
    }
  }
  ASSERT_GE(addresses.size(), 5u) << dump;
  DebuggedHlrun hlrun(backend(), "hello", "greet world");
  ASSERT_NE(hlrun.port(), 0);
  // `break *greet`: greet's entry (`break greet` stops after the prologue at -O0).
  std::vector<std::string> commands = {"break *greet", "continue", "delete"};
  for (int i = 0; i < 4; ++i) {
    commands.push_back("stepi");
    commands.push_back("printf \"at %#lx\\n\", $pc");
  }
  commands.push_back("x/4gx 0x10000");
  commands.push_back("break *0x7fff00000000");  // outside guest memory: refused
  commands.push_back("continue");
  commands.push_back("kill");
  const std::string out = gdb_session("hello", hlrun.port(), commands);
  for (int i = 1; i <= 4; ++i) EXPECT_CONTAINS(out, "at " + hex_address(addresses[i]) + "\n");
  // The call area starts with the call message's magic ("HLM1") and type.
  EXPECT_CONTAINS(out, "0x10000:\t0x");
  EXPECT_CONTAINS(out, "484c4d31");
  EXPECT_CONTAINS(out, "Cannot insert breakpoint 2.");
  hlrun.finish();
}

// Plain gdb, no file given, in another directory than hlrun's, which was given a relative path:
// gdb gets the ELF through the target (qXfer:exec-file, vFile).
TEST_P(LiveGdb, PlainGdbGetsSymbolsThroughTheTarget) {
  BackgroundServer hlrun("cd " + std::string(HLRR_GUEST_DIR) + " && timeout 60 " +
                         tool_path("hlrun") + " -g 0 --vcpu " + backend() +
                         " hello.elf --call greet world");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = shell(
      "cd / && timeout 60 gdb -batch -nx -ex 'target remote :" + std::to_string(hlrun.port()) +
      "' -ex 'break hello.c:29' -ex continue -ex 'print len' -ex 'info line *$pc' -ex kill");
  EXPECT_CONTAINS(out, "hello.c, line 29.");
  EXPECT_CONTAINS(out, "Breakpoint 1, greet (");
  EXPECT_CONTAINS(out, "$1 = 14\n");
  EXPECT_CONTAINS(out, "Line 29 of \"");
  EXPECT_CONTAINS(hlrun.finish(), "hlrun: killed by the debugger\n");
  EXPECT_EQ(hlrun.exit_code(), 1);
}

TEST_P(LiveGdb, SetVarChangesTheResult) {
  DebuggedHlrun hlrun(backend(), "buggy", "sample_count");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out =
      gdb_session("buggy", hlrun.port(),
                  {"break sample_count", "continue", "set var g_stats.count = 42",
                   "print g_stats.count", "continue"});
  EXPECT_CONTAINS(out, "$1 = 42\n");
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), "result: 42\n");
}

TEST_P(LiveGdb, WatchStopsAfterTheOffByOneStore) {
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 1000");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = gdb_session("buggy", hlrun.port(),
                                      {"set var g_stats.count = 16", "watch g_stats.count",
                                       "continue", "continue", "info line *($pc - 1)", "continue"});
  EXPECT_CONTAINS(out, "Hardware watchpoint 1: g_stats.count");
  EXPECT_CONTAINS(out, "Old value = 16\nNew value = 17\n");
  EXPECT_CONTAINS(out, "Old value = 17\nNew value = 1000\n");
  // Stopped just after the storing instruction, which is on the BUG line.
  EXPECT_CONTAINS(out, "Line 34 of \"");
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), "result: 17\n");
}

TEST_P(LiveGdb, ReadAndAccessWatchpoints) {
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 7");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = gdb_session(
      "buggy", hlrun.port(),
      {"break add_sample", "continue", "rwatch g_stats.count", "continue", "delete",
       "awatch g_stats.samples[0]", "continue", "print g_stats.samples[0]", "delete", "continue"});
  EXPECT_CONTAINS(out, "Hardware read watchpoint 2: g_stats.count\n\nValue = 0\n");
  EXPECT_CONTAINS(out, "Hardware access (read/write) watchpoint 3: g_stats.samples[0]\n");
  EXPECT_CONTAINS(out, "Old value = 0\nNew value = 7\n");
  EXPECT_CONTAINS(out, "$1 = 7\n");
  EXPECT_CONTAINS(hlrun.finish(), "result: 1\n");
}

TEST_P(LiveGdb, HardwareBreakpointAndDetach) {
  DebuggedHlrun hlrun(backend(), "hello", "greet world");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = gdb_session("hello", hlrun.port(),
                                      {"hbreak greet", "continue", "info registers rip", "detach"});
  EXPECT_CONTAINS(out, "Hardware assisted breakpoint 1 at ");
  EXPECT_CONTAINS(out, "rip            " + hex_address(line_address("hello", "hello.c:20")) + " ");
  EXPECT_CONTAINS(out, "[Inferior 1 (process 1) detached]");
  const std::string rest = hlrun.finish();
  EXPECT_CONTAINS(rest, "Hello, world!\nresult: 14\n");
  EXPECT_EQ(hlrun.exit_code(), 0);
}

TEST_P(LiveGdb, InterruptsAGuestInALoopThenKills) {
  DebuggedHlrun hlrun(backend(), "faults", "infinite_loop");
  ASSERT_NE(hlrun.port(), 0);
  // Ctrl-C as a user gives it: SIGINT to gdb while it waits in `continue` (set -m: the
  // background gdb must not ignore SIGINT).
  const std::string out = shell(
      "timeout 60 bash -c \"set -m; gdb -batch -nx -ex 'set confirm off' -ex 'target remote :" +
      std::to_string(hlrun.port()) + "' -ex continue -ex 'info symbol \\$pc' -ex kill " +
      guest_path("faults") + " & p=\\$!; sleep 2; kill -INT \\$p; wait \\$p\"");
  EXPECT_CONTAINS(out, "Program received signal SIGINT, Interrupt.");
  EXPECT_CONTAINS(out, "infinite_loop + ");
  EXPECT_CONTAINS(out, "[Inferior 1 (process 1) killed]");
  EXPECT_CONTAINS(hlrun.finish(), "hlrun: killed by the debugger\n");
  EXPECT_EQ(hlrun.exit_code(), 1);
}

TEST_P(LiveGdb, FaultIsASignalAtTheFaultingLine) {
  DebuggedHlrun hlrun(backend(), "faults", "null_deref");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out =
      gdb_session("faults", hlrun.port(), {"continue", "info line *$pc", "print *p", "continue"});
  EXPECT_CONTAINS(out, "Program received signal SIGSEGV, Segmentation fault.");
  EXPECT_CONTAINS(out, "Cannot access memory at address 0x0");
  EXPECT_CONTAINS(out, "null_deref (");
  EXPECT_CONTAINS(out, "Line 34 of \"");
  EXPECT_CONTAINS(out, "Program terminated with signal SIGSEGV, Segmentation fault.");
  EXPECT_CONTAINS(hlrun.finish(), "hlrun: guest fault: #PF at ");
  EXPECT_EQ(hlrun.exit_code(), 1);
}

TEST_P(LiveGdb, RecordsTheDebuggedRun) {
  const std::string trace = ::testing::TempDir() + "live_" + backend() + ".cap";
  DebuggedHlrun hlrun(backend(), "hello", "greet world", "--record " + trace);
  ASSERT_NE(hlrun.port(), 0);
  const std::string out =
      gdb_session("hello", hlrun.port(), {"break greet", "continue", "next", "continue"});
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), "result: 14\n");
  const ProcessResult verify = run_process({tool_path("hltrace"), "verify", trace});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const ProcessResult info = run_process({tool_path("hltrace"), "info", trace});
  EXPECT_CONTAINS(info.out, "calls:         2\n");  // the initialisation and greet
  EXPECT_CONTAINS(info.out, "end:           completed");
  std::remove(trace.c_str());
}

// A debugger's memory write while recording is recorded where it happened (a DebuggerWrite at
// the software vCPU's instruction count), so the trace replays the session; register writes, and
// memory writes on KVM (no count), are refused with one line from hlrun and an error in gdb.
TEST_P(LiveGdb, WritesWhileRecordingAreRecordedOrRefusedSoTheTraceReplays) {
  const bool counted = backend() == "unicorn";
  const std::string trace = ::testing::TempDir() + "live_writes_" + backend() + ".cap";
  DebuggedHlrun hlrun(backend(), "buggy", "add_sample 5", "--record " + trace);
  ASSERT_NE(hlrun.port(), 0);
  const std::string out =
      gdb_session("buggy", hlrun.port(),
                  {"break add_sample", "continue", "set var g_stats.count = 16",
                   "print g_stats.count", "set var $rbx = 0x1234", "print/x $rbx", "continue"});
  EXPECT_CONTAINS(out, counted ? "$1 = 16\n" : "$1 = 0\n");
  EXPECT_EQ(out.find("$2 = 0x1234"), std::string::npos) << out;
  EXPECT_CONTAINS(out, "exited normally");
  const std::string rest = hlrun.finish();
  EXPECT_EQ(rest.find("refused a debugger's write to memory") == std::string::npos, counted)
      << rest;
  EXPECT_CONTAINS(rest,
                  "hlrun: --record: refused a debugger's write to registers: the run is "
                  "being recorded, and the trace could not replay the change\n");
  // count = 16: the off-by-one store lands in count itself, and add_sample returns 17.
  EXPECT_CONTAINS(rest, counted ? "result: 17\n" : "result: 1\n");
  if (counted) {
    const ProcessResult dump = run_process({tool_path("hltrace"), "dump", trace});
    EXPECT_TRUE(std::regex_search(dump.out, std::regex("debugger-write icount=[0-9]+ \\(0x")))
        << dump.out;
  }
  const ProcessResult check = run_process({tool_path("hlreplay"), trace, "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_CONTAINS(check.out, "deterministic: ");
  std::remove(trace.c_str());
}

TEST_P(LiveGdb, EachFaultKindIsItsSignal) {
  struct Case {
    const char* call;
    const char* signal;
    const char* line;  // where gdb stops: the faulting line
    const char* hlrun;
  };
  const Case cases[] = {
      {"undefined_instruction", "SIGILL, Illegal instruction.", "Line 40 of \"", "#UD at "},
      {"divide_by_zero 0", "SIGFPE, Arithmetic exception.", "Line 48 of \"", "#DE at "},
      {"panic", "SIGABRT, Aborted.", "", "something went wrong"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.call);
    DebuggedHlrun hlrun(backend(), "faults", c.call);
    ASSERT_NE(hlrun.port(), 0);
    const std::string out =
        gdb_session("faults", hlrun.port(), {"continue", "info line *$pc", "continue"});
    EXPECT_CONTAINS(out, std::string("Program received signal ") + c.signal);
    EXPECT_CONTAINS(out, c.line);
    EXPECT_CONTAINS(out, std::string("Program terminated with signal ") + c.signal);
    EXPECT_CONTAINS(hlrun.finish(), c.hlrun);
    EXPECT_EQ(hlrun.exit_code(), 1);
  }
}

HLRR_INSTANTIATE_FOR_BACKENDS(LiveGdb);

TEST(LiveHlrun, RejectsABadDebugAddress) {
  for (const std::string option : {"-g", "--listen"}) {
    const ProcessResult r = run_process(
        {tool_path("hlrun"), option, "not-a-port", guest_path("hello")}, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err, "hlrun: " + option + ": expected PORT or ADDR:PORT, got 'not-a-port'\n");
  }
  const ProcessResult taken =
      run_process({tool_path("hlrun"), "--listen", "203.0.113.1:1", guest_path("hello")},
                  std::chrono::seconds(20));
  EXPECT_EQ(taken.exit_code, 2);
  EXPECT_NE(taken.err.find("hlrun: "), std::string::npos);
}

}  // namespace
}  // namespace hlrr::testing
