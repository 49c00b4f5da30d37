// Debugging real guests (guest/real/) on replays: a reverse watchpoint inside Lua's interpreter,
// a crash inside Lua on a corrupted precompiled chunk, and lldb's forward session in Lua and
// zlib.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "tests/integration/live_debug.h"
#include "tests/integration/real_guests.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

// The number of the first line of `file` that contains `text` after one that contains `after`;
// 0 if there is none. Where a test expects a stop in a library's source, the line comes from the
// very file gdb shows (`info source`), not from a number written here.
int source_line(const std::string& file, const std::string& after, const std::string& text) {
  std::ifstream in(file);
  std::string line;
  bool seen = false;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!seen) {
      seen = line.find(after) != std::string::npos;
    } else if (line.find(text) != std::string::npos) {
      return n;
    }
  }
  return 0;
}

// The source file gdb's `info source` names, e.g. /…/lua5.4/src/lvm.c.
std::string located_in(const std::string& gdb_output) {
  std::smatch m;
  return std::regex_search(gdb_output, m, std::regex("Located in (\\S+)")) ? m[1].str() : "";
}

// Lua: a watchpoint on one slot of a table's array part, set where table.concat reads the
// table, then reverse-continue to the store that last wrote it: the script's `t[3] = 1000`,
// executed by luaV_execute's OP_SETI case in lvm.c. hvalue, s2v and GET_OPCODE are Lua's own
// macros (the guest is built with -g3), known in lvm.c's frames (ltablib.c sees only the API):
// table.concat's argument is the slot after the running C function's.
TEST(RealGuestsGdb, LuaReverseWatchpointToTheInterpretersStore) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  TempDir dir;
  const std::string trace = dir.path("lua.cap");
  record("lua",
         {"lua_run",
          "s:local t = {}\nfor i = 1, 8 do t[i] = i * i end\nt[3] = 1000\n"
          "return table.concat(t, ',')"},
         trace);
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("lua", server.port(),
                  {"break tconcat", "continue", "frame function luaV_execute",
                   "set $t = hvalue(s2v(L->ci->func + 1))",
                   "printf \"SLOT %lld SIZE %u\\n\", $t->array[2].value_.i, $t->alimit",
                   "watch -l $t->array[2].value_.i", "reverse-continue", "bt 1", "info source",
                   "print (OpCode)GET_OPCODE(i)", "printf \"KEY %d\\n\", GETARG_B(i)"});
  EXPECT_CONTAINS(out, "Breakpoint 1, tconcat (L=");
  EXPECT_CONTAINS(out, "SLOT 1000 SIZE 8\n");
  // Backwards, gdb shows the value after the store as old and the one before it as new: the
  // loop's 3 * 3.
  EXPECT_CONTAINS(out, "Old value = 1000\nNew value = 9\n");
  EXPECT_TRUE(std::regex_search(out, std::regex("\\$[0-9]+ = OP_SETI\n"))) << out;
  EXPECT_CONTAINS(out, "KEY 3\n");
  const std::string lvm = located_in(out);
  ASSERT_NE(lvm.find("lua5.4/src/lvm.c"), std::string::npos) << out;
  const int line = source_line(lvm, "vmcase(OP_SETI)", "luaV_finishfastset(L, s2v(ra), slot, rc);");
  ASSERT_GT(line, 0) << lvm;
  EXPECT_TRUE(std::regex_search(
      out, std::regex("#0 .*luaV_execute \\(.*\\) at .*lvm\\.c:" + std::to_string(line) + "\n")))
      << "lvm.c:" << line << "\n"
      << out;
}

// Lua 5.4 does not verify binary chunks. This script dumps a function, patches its LOADI R0
// -65535 (whose Bx field is 0) into LOADK R0 K[0] and runs it: the function has no constants,
// so its constant array is NULL (luaM_malloc_ of 0 bytes) and the load reads address 0. No
// single quotes: the live test passes it through a shell.
constexpr const char* kCorruptChunk =
    "local c = string.dump(function() return -65535 end, true)\n"
    "local at = c:find(string.pack(\"<I4I4\", 1, 0x20048), 1, true)\n"
    "return load(c:sub(1, at - 1) .. string.pack(\"<I4\", 3) .. c:sub(at + 4), \"bad\", \"b\")()";

// The crash is a fault, not a hang or an internal error: hlrun names it, and gdb shows it in
// luaV_execute on OP_LOADK's line of lvm.c, with SIGSEGV, on the replay (the end of the
// recording) and live.
TEST(RealGuestsFault, ACorruptedLuaChunkFaultsOnItsLineOfLvmC) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  TempDir dir;
  const std::string trace = dir.path("lua.cap");
  auto rec =
      run_process({tool_path("hlrun"), guest_path("lua"), "--vcpu", "unicorn", "--mem", "64M",
                   "--record", trace, "--call", "lua_run", std::string("s:") + kCorruptChunk},
                  std::chrono::minutes(3));
  EXPECT_EQ(rec.exit_code, 1);
  EXPECT_TRUE(
      std::regex_match(rec.err, std::regex("hlrun: guest fault: #PF at 0x[0-9a-f]+ in "
                                           "luaV_execute\\+0x[0-9a-f]+ \\(address 0x0\\)\n")))
      << rec.err;
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("lua", server.port(),
                  {"continue", "bt 2", "monitor calls", "info source",
                   "print (OpCode)GET_OPCODE(i)", "print k", "print cl->p->sizek"});
  // The end of a recording that faulted shows the fault, as live.
  EXPECT_CONTAINS(out, "Program received signal SIGSEGV, Segmentation fault.");
  const std::string lvm = located_in(out);
  ASSERT_NE(lvm.find("lua5.4/src/lvm.c"), std::string::npos) << out;
  const int line = source_line(lvm, "vmcase(OP_LOADK)", "setobj2s(L, ra, rb);");
  ASSERT_GT(line, 0) << lvm;
  const std::string at_line = "lvm\\.c:" + std::to_string(line) + "\n";
  EXPECT_TRUE(std::regex_search(out, std::regex("#0 .* in luaV_execute \\(.*\\) at .*" + at_line)))
      << "lvm.c:" << line << "\n"
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("#1 .* in ccall \\("))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("fault: #PF at 0x[0-9a-f]+ in luaV_execute")))
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("\\$1 = OP_LOADK\n\\$2 = \\(TValue \\*\\) 0x0\n"
                                                "\\$3 = 0\n")))
      << out;

  DebuggedHlrun live("unicorn", "lua", std::string("lua_run 's:") + kCorruptChunk + "'",
                     "--mem 64M");
  ASSERT_NE(live.port(), 0);
  const std::string signal = gdb_session("lua", live.port(), {"continue", "continue"});
  EXPECT_CONTAINS(signal, "Program received signal SIGSEGV, Segmentation fault.");
  EXPECT_TRUE(std::regex_search(signal, std::regex("in luaV_execute \\(.*\\) at .*" + at_line)))
      << signal;
  EXPECT_CONTAINS(signal, "Program terminated with signal SIGSEGV, Segmentation fault.");
  EXPECT_CONTAINS(live.finish(), "hlrun: guest fault: #PF at ");
  EXPECT_EQ(live.exit_code(), 1);
}

// lldb 14's forward session on a replay inside zlib: break in deflate, a backtrace through
// compress2 and the guest's own functions, fields of the z_stream and of zlib's internal state.
TEST(RealGuestsLldb, ZlibDeflateOnAReplay) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  TempDir dir;
  const std::string trace = dir.path("zlib.cap");
  ASSERT_NO_FATAL_FAILURE(record_zlib_hello(trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out = lldb_session(
      "lldb", "zlib", server.port(),
      {"breakpoint set -n deflate", "continue", "bt", "frame variable strm->avail_in flush",
       "expression -- strm->state->level", "frame variable -f x strm->next_in[0]", "kill"});
  EXPECT_CONTAINS(out, "stop reason = breakpoint 1.1");
  EXPECT_TRUE(std::regex_search(out, std::regex("frame #0: 0x[0-9a-f]+ zlib\\.elf`deflate\\(strm="
                                                "0x[0-9a-f]+, flush=4\\) at deflate\\.c:[0-9]+")))
      << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex("frame #1: 0x[0-9a-f]+ zlib\\.elf`compress2\\(.*source=\"hello hello hello "
                      "hello\".*level=6\\) at compress\\.c:[0-9]+")))
      << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex("frame #2: 0x[0-9a-f]+ zlib\\.elf`roundtrip\\(.*len=23, level=6\\)")))
      << out;
  EXPECT_TRUE(
      std::regex_search(out, std::regex("frame #3: 0x[0-9a-f]+ zlib\\.elf`deflate_roundtrip")))
      << out;
  EXPECT_CONTAINS(out, "(uInt) strm->avail_in = 23\n");
  EXPECT_CONTAINS(out, "(int) flush = 4\n");  // Z_FINISH
  EXPECT_CONTAINS(out, "(int) $0 = 6\n");
  EXPECT_CONTAINS(out, "(Bytef) strm->next_in[0] = 0x68\n");  // 'h'
}

// lldb 14's forward session on a replay inside Lua's interpreter loop. As with gdb, GCC puts
// lldb's usual breakpoint past the prologue on a nop the first label jumps over; break on the
// entry and step over the prologue instead. The running closure's prototype is read with
// casts (lldb does not expand Lua's macros): the main chunk, vararg, 5 registers.
TEST(RealGuestsLldb, LuaVExecuteOnAReplay) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  TempDir dir;
  const std::string trace = dir.path("lua.cap");
  record("lua", {"lua_run", "s:local x = 0\nfor i = 1, 10 do x = x + i end\nreturn x"}, trace);
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string proto = "((LClosure*)ci->func->val.value_.gc)->p->";
  const std::string out = lldb_session(
      "lldb", "lua", server.port(),
      {"breakpoint set -n luaV_execute --skip-prologue false", "continue", "thread step-over", "bt",
       "frame variable ci->nresults", "expression -f d -- " + proto + "maxstacksize",
       "expression -f d -- " + proto + "is_vararg", "expression -- " + proto + "lastlinedefined",
       "kill"});
  EXPECT_CONTAINS(out, "stop reason = breakpoint 1.1");
  EXPECT_TRUE(std::regex_search(out, std::regex("frame #0: 0x[0-9a-f]+ lua\\.elf`luaV_execute\\(L="
                                                "0x[0-9a-f]+, ci=0x[0-9a-f]+\\) at lvm\\.c:")))
      << out;
  for (const char* frame : {"ccall", "luaD_callnoyield", "lua_pcallk", "lua_run", "hl_dispatch"}) {
    EXPECT_TRUE(std::regex_search(
        out, std::regex(std::string("frame #[0-9]+: 0x[0-9a-f]+ lua\\.elf`") + frame + "[( ]")))
        << frame << "\n"
        << out;
  }
  EXPECT_CONTAINS(out, "(short) ci->nresults = 1\n");  // lua_pcall(L, 0, 1, 0)
  EXPECT_CONTAINS(out, "(lu_byte) $0 = 5\n");
  EXPECT_CONTAINS(out, "(lu_byte) $1 = 1\n");
  EXPECT_CONTAINS(out, "(int) $2 = 0\n");
}

}  // namespace
}  // namespace hlrr::testing
