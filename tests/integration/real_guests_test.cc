// Real programs as guests (guest/real/): Lua 5.4 and zlib from Debian's source packages, linked
// with musl. Their results equal the same libraries run natively here; errors come back clean;
// recordings replay.
#include "tests/integration/real_guests.h"

#include <gtest/gtest.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <regex>

#include "tests/integration/guests.h"
#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"
#include "tests/support/subprocess.h"
#include "vmm/standard_host_functions.h"

namespace hlrr::testing {
namespace {

std::string fault_of(vmm::Sandbox& s, std::string_view name, std::vector<vmm::Value> args) {
  auto r = s.call(name, args);
  return r ? std::string("no fault") : r.error().to_string();
}

// The script run by liblua5.4 on the host, its result converted as lua_guest.c does.
std::string native_lua(const std::string& script) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  std::string result = "error";
  if (luaL_loadbuffer(L, script.data(), script.size(), "=script") == LUA_OK &&
      lua_pcall(L, 0, 1, 0) == LUA_OK) {
    size_t len;
    const char* s = luaL_tolstring(L, -1, &len);
    result.assign(s, len);
  }
  lua_close(L);
  return result;
}

const char* const kScripts[] = {
    "return 1 + 2",
    "local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end "
    "return fib(22)",
    "local t = {} for i = 1, 200 do t[i] = i * i end return table.concat(t, ',', 190, 200)",
    "return string.format('%5.2f %d %s %q', math.pi, 7 // 2, tostring(1e100), 'a\\nb')",
    "local s = ('hello world '):rep(50) return (s:gsub('o', '0')):sub(1, 40) .. #s",
    "local t = {} for w in ('the quick brown fox jumps over the lazy dog'):gmatch('%a+') do "
    "t[#t+1] = w:upper() end table.sort(t) return table.concat(t, ' ')",
    "return math.sqrt(2) * math.sin(1.5) + math.floor(-3.5) + (2^53 + 1)",
    "return utf8.char(72, 228, 8364) .. ' ' .. select('#', 1, nil, 3)",
};

TEST(LuaGuest, ResultsEqualLuaRunNatively) {
  std::string out;
  auto s = real_sandbox("lua", &out);
  ASSERT_TRUE(s);
  for (const char* script : kScripts) {
    EXPECT_EQ(std::get<std::string>(call_ok(*s, "lua_run", {std::string(script)})),
              native_lua(script))
        << script;
  }
}

TEST(LuaGuest, AScriptCallsHostFunctions) {
  std::string out;
  auto s = real_sandbox("lua", &out);
  ASSERT_TRUE(s);
  EXPECT_EQ(std::get<std::string>(call_ok(
                *s, "lua_run",
                {std::string("host('print', 'from lua ' .. 6 * 7) return host('clock_ns') > 0")})),
            "true");
  EXPECT_EQ(out, "from lua 42");
  out.clear();
  EXPECT_EQ(std::get<std::string>(call_ok(*s, "lua_run", {std::string("print('a', 1) return 0")})),
            "0");
  EXPECT_EQ(out, "a\t1\n");
}

TEST(LuaGuest, ErrorsAndMemoryExhaustionComeBackClean) {
  std::string out;
  auto s = real_sandbox("lua", &out);
  ASSERT_TRUE(s);
  const std::string boom = fault_of(*s, "lua_run", {std::string("error('boom')")});
  EXPECT_NE(boom.find("lua: script:1: boom"), std::string::npos) << boom;
  const std::string syntax = fault_of(*s, "lua_run", {std::string("return +")});
  EXPECT_NE(syntax.find("lua: script:1: unexpected symbol near '+'"), std::string::npos) << syntax;
  // 1 MiB strings until the state's 32 MiB limit (lua_guest.c).
  const std::string memory = fault_of(
      *s, "lua_run",
      {std::string(
          "local s = ('x'):rep(1 << 20) local t = {} for i = 1, 1e6 do t[i] = s .. i end")});
  EXPECT_NE(memory.find("lua: not enough memory"), std::string::npos) << memory;
  // The guest is still usable afterwards.
  EXPECT_EQ(std::get<std::string>(call_ok(*s, "lua_run", {std::string("return 6 * 7")})), "42");
}

// What zlib_guest.c returns, computed with the host's zlib.
std::string native_deflate(const std::vector<uint8_t>& in, int level) {
  uLongf len = compressBound(in.size());
  std::vector<uint8_t> packed(len);
  EXPECT_EQ(compress2(packed.data(), &len, in.data(), in.size(), level), Z_OK);
  char text[64];
  std::snprintf(text, sizeof text, "%lu %08lx", static_cast<unsigned long>(len),
                crc32(crc32(0, Z_NULL, 0), packed.data(), static_cast<uInt>(len)));
  return text;
}

std::vector<uint8_t> pattern(size_t len) {  // zlib_guest.c's deflate_pattern input
  static const char* const words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
  std::vector<uint8_t> out;
  for (unsigned long i = 0; out.size() < len; ++i) {
    char line[64];
    const int n =
        std::snprintf(line, sizeof line, "line %lu: %s %s\n", i, words[i % 6], words[(i / 7) % 6]);
    out.insert(out.end(), line, line + std::min<size_t>(static_cast<size_t>(n), len - out.size()));
  }
  return out;
}

TEST(ZlibGuest, DeflateEqualsTheHostsZlib) {
  std::string out;
  auto s = real_sandbox("zlib", &out);
  ASSERT_TRUE(s);
  std::vector<uint8_t> text = pattern(20000);
  std::vector<uint8_t> noise(5000);
  uint32_t x = 1;
  for (auto& b : noise) b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
  for (int level : {1, 6, 9}) {
    for (const auto& in : {text, noise, std::vector<uint8_t>{}}) {
      EXPECT_EQ(std::get<std::string>(call_ok(*s, "deflate_roundtrip", {in, int64_t{level}})),
                native_deflate(in, level))
          << in.size() << " bytes, level " << level;
    }
  }
  EXPECT_EQ(std::get<std::string>(call_ok(*s, "deflate_pattern", {int64_t{1}, int64_t{6}})),
            native_deflate(pattern(1 << 20), 6));
}

TEST(RealGuests, RecordingsReplayDeterministically) {
  char d[] = "/tmp/hlrr-real-XXXXXX";
  const std::string dir = mkdtemp(d);
  for (const auto& [guest, call] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"lua",
            {"lua_run",
             "s:host('print', 'at ' .. host('clock_ns')) "
             "return os.time() > 0 and math.random(1, 6) > 0"}},
           // The -O2 build: the -O0 one's recording outgrew a 120 s limit in the ASan suite.
           {"zlib_release", {"deflate_pattern", "1", "9"}}}) {
    const std::string trace = dir + "/" + guest + ".cap";
    // No guest deadline: what is tested is determinism.
    ASSERT_NO_FATAL_FAILURE(
        record(guest, call, trace, {.no_deadline = true, .limit = std::chrono::minutes(6)}));
    auto check = run_process({tool_path("hlreplay"), trace, "--check"}, std::chrono::minutes(6));
    EXPECT_EQ(check.exit_code, 0) << guest << ": " << check.out << check.err;
    EXPECT_NE(check.out.find("deterministic: "), std::string::npos) << check.out;
  }
  std::filesystem::remove_all(dir);
}

// gdb on a replay, inside zlib's own source: break in deflate, a backtrace through compress2,
// a z_stream field, then reverse-continue with a watchpoint on that field to the line of
// compress2 that last wrote it.
TEST(RealGuestsGdb, ZlibDeflateOnAReplay) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  TempDir dir;
  const std::string trace = dir.path("zlib.cap");
  ASSERT_NO_FATAL_FAILURE(record_zlib_hello(trace));
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("zlib", server.port(),
                  {"break deflate", "continue", "bt", "printf \"AVAIL %u\\n\", strm->avail_in",
                   "print strm->next_in", "watch -l strm->avail_in", "reverse-continue", "bt 1"});
  EXPECT_CONTAINS(out, "Breakpoint 1, deflate (strm=");
  EXPECT_TRUE(std::regex_search(out, std::regex("#1 .* in compress2 \\(.*compress\\.c:[0-9]+")))
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("#3 .* in deflate_roundtrip \\("))) << out;
  EXPECT_CONTAINS(out, "AVAIL 23\n");
  EXPECT_CONTAINS(out, "\"hello hello hello hello\"");
  // The write that set avail_in: compress2's `stream.avail_in = sourceLen > ...` line.
  EXPECT_CONTAINS(out, "Old value = 23\nNew value = 0\n");
  EXPECT_TRUE(std::regex_search(
      out,
      std::regex("in compress2 .*compress\\.c:[0-9]+\n[0-9]+\\s+stream\\.avail_in = sourceLen")))
      << out;
}

// gdb on a replay inside Lua's interpreter loop: luaV_execute, a backtrace through lua_pcallk
// to lua_run, and fields of the running closure's prototype (Lua's own macros: -g3). GCC puts
// `break luaV_execute` on a nop its first label jumps over, hence `break *` and `next`.
TEST(RealGuestsGdb, LuaVExecuteOnAReplay) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  TempDir dir;
  const std::string trace = dir.path("lua.cap");
  record("lua", {"lua_run", "s:local x = 0\nfor i = 1, 10 do x = x + i end\nreturn x"}, trace);
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("lua", server.port(),
                  {"break *luaV_execute", "continue", "bt", "next",
                   "printf \"MAXSTACK %d LINES %d\\n\", clLvalue(s2v(ci->func))->p->maxstacksize, "
                   "clLvalue(s2v(ci->func))->p->lastlinedefined"});
  EXPECT_CONTAINS(out, "Breakpoint 1, luaV_execute (L=");
  for (const char* frame : {"ccall", "luaD_callnoyield", "lua_pcallk", "lua_run", "hl_dispatch"}) {
    EXPECT_TRUE(std::regex_search(out, std::regex(std::string("#[0-9]+ .* in ") + frame + " ")))
        << frame << "\n"
        << out;
  }
  // The main chunk: vararg, not a function definition (lastlinedefined 0); x, the loop's three
  // internal registers and i.
  EXPECT_CONTAINS(out, "MAXSTACK 5 LINES 0\n");
}

// hlguest-cc: a C file and the file that registers its function, compiled and linked as an
// existing project would (CC=hlguest-cc), then run by hlrun.
TEST(HlguestCc, BuildsAPlainCProjectAsAGuest) {
  char d[] = "/tmp/hlrr-hlguest-cc-XXXXXX";
  const std::string dir = mkdtemp(d);
  std::FILE* f = std::fopen((dir + "/words.c").c_str(), "w");
  ASSERT_TRUE(f);
  std::fputs(
      "#include <ctype.h>\n#include <string.h>\n"
      "int count_words(const char* s) { int n = 0, in = 0;\n"
      "  for (; *s; ++s) { if (isspace((unsigned char)*s)) in = 0; else if (!in) { in = 1; ++n; } "
      "}\n"
      "  return n; }\n",
      f);
  std::fclose(f);
  f = std::fopen((dir + "/register.c").c_str(), "w");
  ASSERT_TRUE(f);
  std::fputs(
      "#include <stdio.h>\n#include \"hlguest.h\"\nint count_words(const char*);\n"
      "static hl_value words(const hl_value* a, uint32_t n) { (void)n;\n"
      "  printf(\"%d words\\n\", count_words(hl_as_str(a[0])));\n"
      "  return hl_i64(count_words(hl_as_str(a[0]))); }\n"
      "void hl_main(void) { hl_register(\"words\", words, \"s\"); }\n",
      f);
  std::fclose(f);
  const std::string cc = std::string(HLRR_SOURCE_DIR) + "/guest/bin/hlguest-cc";
  for (const char* src : {"words", "register"}) {
    auto r =
        run_process({cc, "-O2", "-g", "-c", dir + "/" + src + ".c", "-o", dir + "/" + src + ".o"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto link = run_process({cc, dir + "/words.o", dir + "/register.o", "-o", dir + "/words.elf"});
  ASSERT_EQ(link.exit_code, 0) << link.err;
  auto run = run_process({tool_path("hlrun"), dir + "/words.elf", "--vcpu", "unicorn", "--call",
                          "words", "s:the quick  brown fox"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "4 words\nresult: 4\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hlrr::testing
