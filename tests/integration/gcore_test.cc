// gdb's own `gcore` over the protocol (issue 13), on `hlreplay -g` and `hlrun -g`: the core gdb
// saves is opened by a separate gdb, which must show what the session showed (backtrace with
// lines, locals, a global, heap bytes), and values we compute independently here.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

// compute.elf's sort_hash(8, 42): heap_sort's first loop calls sift_down(a, i, 8) for i = 3..0;
// `a` is on the heap (hl_alloc).
constexpr int kN = 8;
constexpr uint64_t kSeed = 42;

// A stop at `break sift_down`: its line is the loop's first statement, so each pass of the loop
// stops there, with `root` as the pass sees it.
struct Hit {
  int root;
  std::vector<uint32_t> a;
};

// The stops of heap_sort's first loop (sift_down(a, i, 8) for i = 3..0): compute.c's steps 1-3,
// replayed here.
std::vector<Hit> sift_down_hits() {
  std::vector<uint32_t> a(kN);
  uint64_t x = kSeed;
  for (uint32_t& v : a) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v = static_cast<uint32_t>(x >> 32);
  }
  std::vector<Hit> hits;
  for (int root = kN / 2 - 1; root >= 0; --root) {
    for (int r = root;;) {
      hits.push_back({r, a});
      int child = 2 * r + 1;
      if (child >= kN) break;
      if (child + 1 < kN && a[child + 1] > a[child]) ++child;
      if (a[r] >= a[child]) break;
      std::swap(a[r], a[child]);
      r = child;
    }
  }
  return hits;
}

// "0x%08x" words as gdb's `x/8wx` prints them (two lines of four).
std::string words(const std::vector<uint32_t>& a) {
  std::string out;
  for (uint32_t v : a) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    out += std::string(out.empty() ? "" : " ") + buf;
  }
  return out;
}

// The line of guest/examples/compute.c holding `text`, as "compute.c:LINE".
std::string line_of(const std::string& text) {
  std::ifstream source(std::string(HLRR_SOURCE_DIR) + "/guest/examples/compute.c");
  std::string line;
  for (int n = 1; std::getline(source, line); ++n)
    if (line.find(text) != std::string::npos) return "compute.c:" + std::to_string(n);
  ADD_FAILURE() << text << " not found in compute.c";
  return "?";
}

// What gdb shows at a stop in sift_down, the same commands live and on the core.
const std::vector<std::string> kReport = {
    "echo REPORT-BEGIN\\n",
    "frame 0",
    "bt",
    "printf \"ROOT %lu N %lu\\n\", root, n",
    "printf \"HEAP-NEXT %#lx FITS %d\\n\", g_heap_next, g_heap_next >= (unsigned long)(a + 8)",
    "printf \"A %#010x %#010x %#010x %#010x %#010x %#010x %#010x %#010x\\n\", a[0], a[1], a[2], "
    "a[3], a[4], a[5], a[6], a[7]",
    "frame 2",
    "printf \"SORT-HASH-N %ld\\n\", n",
    "echo REPORT-END\\n"};

// The `nth` report in gdb's output, its backtrace's "0x... in " dropped (frame 0 has none).
std::string report(const std::string& out, int nth = 0) {
  std::size_t at = 0;
  for (int i = 0; i <= nth; ++i) {
    at = out.find("REPORT-BEGIN\n", at);
    if (at == std::string::npos) return "no report " + std::to_string(nth) + " in:\n" + out;
    at += 13;
  }
  const std::size_t end = out.find("REPORT-END\n", at);
  std::string text = out.substr(at, end == std::string::npos ? std::string::npos : end - at);
  return std::regex_replace(text, std::regex("0x[0-9a-f]+ in "), "");
}

std::vector<std::string> with_report(std::vector<std::string> commands) {
  commands.insert(commands.end(), kReport.begin(), kReport.end());
  return commands;
}

class Gcore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  }
  // A report as it must read at the `nth` stop (1-based) at `break sift_down`.
  void expect_report_at(const std::string& text, int nth) {
    const std::vector<Hit> hits = sift_down_hits();
    ASSERT_LE(nth, static_cast<int>(hits.size()));
    const Hit& hit = hits[nth - 1];
    EXPECT_TRUE(std::regex_search(
        text, std::regex("#0 +sift_down \\(a=0x[0-9a-f]+, root=" + std::to_string(hit.root) +
                         ", n=8\\) at .*" + line_of("uint64_t child = 2 * root + 1;") + "\n")))
        << text;
    EXPECT_TRUE(std::regex_search(
        text, std::regex("#1 +heap_sort \\(a=0x[0-9a-f]+, n=8\\) at .*" +
                         line_of("for (uint64_t i = n / 2; i-- > 0;) sift_down") + "\n")))
        << text;
    EXPECT_TRUE(std::regex_search(text, std::regex("#2 +sort_hash \\(.*\\) at .*" +
                                                   line_of("heap_sort(a, (uint64_t)n);") + "\n")))
        << text;
    EXPECT_CONTAINS(text, "ROOT " + std::to_string(hit.root) + " N 8\n");
    EXPECT_CONTAINS(text, " FITS 1\n");
    EXPECT_CONTAINS(text, "A " + words(hit.a) + "\n");
    EXPECT_CONTAINS(text, "SORT-HASH-N 8\n");
  }
  // `gdb compute.elf core` running the report.
  std::string core_report(const std::string& core) {
    const std::string out = shell("timeout 60 gdb -batch -nx " + guest_path("compute") + " " +
                                  core + quote_all("-ex", kReport) + " 2>&1");
    return report(out);
  }
  TempDir dir_;
};

TEST_F(Gcore, GdbsGcoreOnAReplaySessionWritesCoresOfTheForwardAndReversePoints) {
  const std::string trace = dir_.path("compute.cap");
  const std::string first = dir_.path("first.core"), fourth = dir_.path("fourth.core"),
                    back = dir_.path("back.core");
  auto rec =
      run_process({tool_path("hlrun"), guest_path("compute"), "--vcpu", "unicorn", "--call",
                   "sort_hash", std::to_string(kN), std::to_string(kSeed), "--record", trace});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  std::vector<std::string> commands = with_report({"break sift_down", "continue"});
  commands.push_back("gcore " + first);
  commands = with_report(commands);  // unchanged by gcore
  for (const char* c : {"continue", "continue", "continue"}) commands.push_back(c);
  commands = with_report(commands);
  commands.push_back("gcore " + fourth);
  for (const char* c : {"reverse-continue", "reverse-continue", "reverse-continue"}) {
    commands.push_back(c);
  }
  commands = with_report(commands);
  commands.push_back("gcore " + back);
  // The same /proc files gdb shows; no host file comes through.
  commands.push_back("info proc mappings");
  commands.push_back("remote get /etc/hostname " + dir_.path("hostname"));
  commands.push_back("kill");
  const std::string out = gdb_session("compute", server.port(), commands);
  expect_report_at(report(out, 0), 1);
  EXPECT_EQ(report(out, 1), report(out, 0));
  expect_report_at(report(out, 2), 4);
  expect_report_at(report(out, 3), 1);
  EXPECT_CONTAINS(out, "Saved corefile " + first);
  EXPECT_CONTAINS(out, "Saved corefile " + back);
  EXPECT_TRUE(std::regex_search(
      out, std::regex("0x[0-9a-f]+ +0x100000 +0x[0-9a-f]+ +0x0 +rw-p +\\[stack\\]\n")))
      << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex("0x10[0-9a-f]{4} +0x[0-9a-f]+ +0x[0-9a-f]+ +0x0 +rw-p +\\[heap\\]\n")))
      << out;
  EXPECT_CONTAINS(out, "Remote I/O error: No such file or directory\n");
  EXPECT_FALSE(std::filesystem::exists(dir_.path("hostname")));
  // The cores show what the session showed there.
  EXPECT_EQ(core_report(first), report(out, 0));
  EXPECT_EQ(core_report(fourth), report(out, 2));
  EXPECT_EQ(core_report(back), report(out, 3));
  expect_report_at(core_report(fourth), 4);
  expect_report_at(core_report(back), 1);
}

TEST_F(Gcore, GdbsGcoreOnALiveSessionWritesTheCoreOfThatStop) {
  const std::string core = dir_.path("live.core");
  DebuggedHlrun hlrun("unicorn", "compute",
                      "sort_hash " + std::to_string(kN) + " " + std::to_string(kSeed));
  ASSERT_NE(hlrun.port(), 0);
  // The first stop with root 1.
  const std::vector<Hit> hits = sift_down_hits();
  const int nth = static_cast<int>(
      std::find_if(hits.begin(), hits.end(), [](const Hit& h) { return h.root == 1; }) -
      hits.begin() + 1);
  std::vector<std::string> commands = with_report({"break sift_down if root == 1", "continue"});
  commands.push_back("gcore " + core);
  commands.push_back("kill");
  const std::string out = gdb_session("compute", hlrun.port(), commands);
  expect_report_at(report(out), nth);
  EXPECT_CONTAINS(out, "Saved corefile " + core);
  EXPECT_EQ(core_report(core), report(out));
  expect_report_at(core_report(core), nth);
}

}  // namespace
}  // namespace hlrr::testing
