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

}  // namespace
}  // namespace hlrr::testing
