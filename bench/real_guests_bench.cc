// Benchmarks of real guests (guest/real/, built -O2 as lua_release and zlib_release) on the
// software vCPU, one run each (the workloads take tens of seconds):
//  - guest time as a ratio to the same library natively on the host (liblua5.4, zlib);
//  - recording overhead: the call recorded beside the same call run plainly (goal <= 1.05x);
//  - `hlreplay TRACE --check` (the process: open, replay to the end, compare) beside the plain
//    run (goal: speed >= 0.9x, i.e. time <= 1.11x);
//  - trace bytes per 10^6 guest instructions (the count is hlreplay --check's).
// Workloads: a Lua script of table, arithmetic and string work (~1.2 * 10^9 instructions at the
// default --lua-loops) and zlib's deflate_pattern over --zlib-mib MiB (default 16).
//
//   real_guests_bench GUEST_DIR [--json] [--lua-loops N] [--zlib-mib N]
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_table.h"
#include "recorder/recorder.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

using namespace hlrr;

namespace {

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "real_guests_bench: %s\n", message.c_str());
  std::exit(2);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Options {
  std::string guest_dir;
  bool json = false;
  int64_t lua_loops = 2'000'000;
  int64_t zlib_mib = 16;
};

Options parse(int argc, char** argv) {
  if (argc < 2) die("usage: real_guests_bench GUEST_DIR [--json] [--lua-loops N] [--zlib-mib N]");
  Options o{.guest_dir = argv[1]};
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) o.json = true;
    if (std::strcmp(argv[i], "--lua-loops") == 0 && i + 1 < argc) {
      o.lua_loops = std::stoll(argv[++i]);
    }
    if (std::strcmp(argv[i], "--zlib-mib") == 0 && i + 1 < argc) o.zlib_mib = std::stoll(argv[++i]);
  }
  return o;
}

// The Lua workload: a table used as a ring, integer arithmetic, then formatting, sorting and
// concatenating strings.
std::string lua_script(int64_t loops) {
  return "local t, s = {}, 0\n"
         "for i = 1, " +
         std::to_string(loops) +
         " do t[i % 1000 + 1] = i * 3 % 7; s = s + (t[(i * 7) % 1000 + 1] or 0) end\n"
         "local w = {}\n"
         "for i = 1, 20000 do w[#w + 1] = string.format('%d:%x', i, i * 31) end\n"
         "table.sort(w)\n"
         "return s .. ' ' .. w[1] .. ' ' .. #table.concat(w, ',')";
}

std::string native_lua(const std::string& script) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_loadbuffer(L, script.data(), script.size(), "=script") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    die(std::string("native lua: ") + lua_tostring(L, -1));
  }
  std::string result = luaL_tolstring(L, -1, nullptr);
  lua_close(L);
  return result;
}

// zlib_guest.c's deflate_pattern, natively: the same text, compress2, uncompress, crc32.
std::string native_deflate_pattern(int64_t mib, int level) {
  static const char* const words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
  const size_t len = static_cast<size_t>(mib) << 20;
  std::vector<unsigned char> text;
  text.reserve(len);
  for (unsigned long i = 0; text.size() < len; ++i) {
    char line[64];
    const int n =
        std::snprintf(line, sizeof line, "line %lu: %s %s\n", i, words[i % 6], words[(i / 7) % 6]);
    text.insert(text.end(), line,
                line + std::min<size_t>(static_cast<size_t>(n), len - text.size()));
  }
  uLongf packed_len = compressBound(len);
  std::vector<unsigned char> packed(packed_len), back(len);
  if (compress2(packed.data(), &packed_len, text.data(), len, level) != Z_OK) die("compress2");
  uLongf back_len = len;
  if (uncompress(back.data(), &back_len, packed.data(), packed_len) != Z_OK || back != text) {
    die("uncompress");
  }
  char result[64];
  std::snprintf(result, sizeof result, "%lu %08lx", static_cast<unsigned long>(packed_len),
                crc32(crc32(0, Z_NULL, 0), packed.data(), static_cast<uInt>(packed_len)));
  return result;
}

struct Workload {
  std::string label;  // "lua", "zlib"
  std::string guest;  // ELF name in GUEST_DIR
  uint64_t memory;
  std::string function;
  std::vector<vmm::Value> args;
  std::function<std::string()> native;  // the same work natively; returns the guest's result
};

vmm::SandboxConfig config(const Workload& w) {
  vmm::SandboxConfig c;
  c.vcpu = vmm::VcpuKind::kUnicorn;  // SSE guests
  c.timeout = std::chrono::milliseconds(0);
  c.memory_size = w.memory;
  c.output = [](std::string_view) {};
  vmm::add_standard_host_functions(c.host_functions);
  return c;
}

std::string text_of(const vmm::Value& v) {
  const auto* s = std::get_if<std::string>(&v);
  return s ? *s : "(not a string)";
}

// Seconds of the call on an initialised sandbox; the result into `*result`.
double plain_run(const vmm::ElfImage& image, const Workload& w, std::string* result) {
  auto sandbox = vmm::Sandbox::create(image, config(w));
  if (!sandbox) die(sandbox.error().message);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = (*sandbox)->call(w.function, w.args);
  const double s = seconds_since(t0);
  if (!r) die(w.label + ": " + r.error().to_string());
  *result = text_of(*r);
  return s;
}

// Seconds of the call recorded (initialisation recorded too, not timed) into `trace`.
double recorded_run(const vmm::ElfImage& image, const Workload& w, const std::string& trace) {
  auto sandbox = vmm::Sandbox::load(image, config(w));
  if (!sandbox) die(sandbox.error().message);
  auto rec = recorder::record_to(**sandbox, trace, {.guest_name = w.guest + ".elf"});
  if (!rec) die(rec.error().message);
  if ((*sandbox)->resume().kind != vmm::RunOutcome::Kind::kReturned) die(w.label + ": init");
  const auto t0 = std::chrono::steady_clock::now();
  if (!(*sandbox)->call(w.function, w.args)) die(w.label + ": the call failed while recording");
  if (auto st = (*rec)->finish(); !st) die(st.error().message);
  return seconds_since(t0);
}

// `hlreplay TRACE --check`: seconds, and the instruction count it prints.
double check_run(const std::string& hlreplay, const std::string& trace, uint64_t* instructions) {
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = ::popen((hlreplay + " " + trace + " --check 2>&1").c_str(), "r");
  if (p == nullptr) die("cannot run " + hlreplay);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  const double s = seconds_since(t0);
  const auto at = out.find(" exits, ");
  if (status != 0 || at == std::string::npos) die("hlreplay --check: " + out);
  *instructions = std::stoull(out.substr(at + 8));
  return s;
}

bench::Sample one(double v) {
  return {v, v, 1};
}

void measure(bench::Table& table, const Options& o, const Workload& w, const std::string& dir) {
  auto image = vmm::ElfImage::read_file(o.guest_dir + "/" + w.guest + ".elf");
  if (!image) die(image.error().message);
  auto t0 = std::chrono::steady_clock::now();
  const std::string native_result = w.native();
  const double native_s = seconds_since(t0);
  std::string result;
  const double plain_s = plain_run(*image, w, &result);
  if (result != native_result) {
    die(w.label + ": the guest returned '" + result + "', natively '" + native_result + "'");
  }
  const std::string trace = dir + "/" + w.guest + ".cap";
  const double record_s = recorded_run(*image, w, trace);
  uint64_t instructions = 0;
  const double check_s = check_run(o.guest_dir + "/../cli/hlreplay", trace, &instructions);
  const double mi = static_cast<double>(instructions) / 1e6;
  std::fprintf(stderr, "real_guests_bench: %s: %.0fM instructions, %.0f MIPS plain\n",
               w.label.c_str(), mi, mi / plain_s);
  const std::string what = w.label + " (" + std::to_string(instructions / 1'000'000) + "M instr)";
  table.add({what + ": unicorn", "s", one(plain_s), "same work natively on the host", one(native_s),
             "measure"});
  table.add({w.label + ": record", "s", one(record_s), "same call, not recorded", one(plain_s),
             "<= 1.05x"});
  table.add({w.label + ": hlreplay --check", "s", one(check_s), "same call, not recorded",
             one(plain_s), "<= 1.11x (speed >= 0.9x)"});
  const auto bytes = static_cast<double>(std::filesystem::file_size(trace));
  table.add({w.label + ": trace bytes per 10^6 instructions", "B", one(bytes / mi), "", {}, ""});
  std::filesystem::remove(trace);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  char tmp[] = "/tmp/hlrr-real-bench-XXXXXX";
  if (!mkdtemp(tmp)) die("mkdtemp");
  const std::string script = lua_script(o.lua_loops);
  bench::Table table;
  measure(
      table, o,
      {"lua", "lua_release", 64ull << 20, "lua_run", {script}, [&] { return native_lua(script); }},
      tmp);
  const int64_t mib = o.zlib_mib;
  measure(table, o,
          {"zlib " + std::to_string(mib) + " MiB",
           "zlib_release",
           static_cast<uint64_t>(3 * mib + 16) << 20,
           "deflate_pattern",
           {mib, int64_t{6}},
           [mib] { return native_deflate_pattern(mib, 6); }},
          tmp);
  std::filesystem::remove_all(tmp);
  table.print(o.json);
  return 0;
}
