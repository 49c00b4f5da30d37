// hlrun --record and hltrace, the binaries, as a user runs them: round trips of every example
// guest on both backends, a recorder killed at random moments, and damaged traces.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/integration/guests.h"
#include "tests/recorder/recorder_test_util.h"
#include "tests/support/subprocess.h"
#include "trace_format/file_layout.h"

extern char** environ;

namespace hlrr::testing {
namespace {

ProcessResult tool(const std::string& name, std::vector<std::string> args) {
  args.insert(args.begin(), tool_path(name));
  return run_process(args, std::chrono::seconds(60));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& l : lines_of(text)) {
    if (l.starts_with(prefix)) out.push_back(l);
  }
  return out;
}

// The value of an `hltrace info` field ("exits:         2505" -> "2505").
std::string info_field(const std::string& info, const std::string& name) {
  for (auto& l : lines_of(info)) {
    if (l.starts_with(name + ":")) {
      auto v = l.substr(name.size() + 1);
      return v.substr(v.find_first_not_of(' '));
    }
  }
  return "(no " + name + ")";
}

class HltraceTest : public BackendTest {
 protected:
  // hlrun GUEST --vcpu BACKEND --record trace --call ARGS...; returns hlrun's result.
  ProcessResult record(const std::string& guest, std::vector<std::string> call) {
    std::vector<std::string> args = {guest_path(guest), "--vcpu",      on_kvm() ? "kvm" : "unicorn",
                                     "--record",        trace_.path(), "--call"};
    args.insert(args.end(), call.begin(), call.end());
    return tool("hlrun", args);
  }
  std::string verify_ok() {
    auto v = tool("hltrace", {"verify", trace_.path()});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_TRUE(v.out.starts_with("ok: ")) << v.out;
    return v.out;
  }
  std::string dump() {
    auto d = tool("hltrace", {"dump", trace_.path()});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    return d.out;
  }
  std::string info() {
    auto i = tool("hltrace", {"info", trace_.path()});
    EXPECT_EQ(i.exit_code, 0) << i.err;
    return i.out;
  }
  TempTrace trace_;
};

TEST_P(HltraceTest, ChattyEveryHostCallShowsWithItsPortAndReply) {
  const int64_t n = on_kvm() ? 150 : 3000;
  const int64_t host_calls = n + n / 1000 + 1;
  auto r = record("chatty", {"chatter", std::to_string(n)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("result: " + std::to_string(host_calls) + "\n"));
  verify_ok();
  const std::string d = dump();
  const auto exits = lines_starting(d, "exit ");
  ASSERT_EQ(exits.size(), static_cast<size_t>(host_calls + 2));  // + init halt + call halt
  EXPECT_TRUE(exits.front().starts_with("exit 0 halt ")) << exits.front();
  EXPECT_TRUE(exits.back().starts_with("exit " + std::to_string(host_calls + 1) + " halt "));
  const std::regex host_call(
      "exit [0-9]+ port-out port=0x6c00 size=1 data=0x0 rip=0x[0-9a-f]+ rsp=0x[0-9a-f]+ "
      "rax=0x[0-9a-f]+ (icount=[0-9]+ )?writes=1 \\(0x18000\\+[0-9]+\\)");
  for (size_t i = 1; i + 1 < exits.size(); ++i) {
    ASSERT_TRUE(std::regex_match(exits[i], host_call)) << exits[i];
    ASSERT_TRUE(exits[i].starts_with("exit " + std::to_string(i) + " "));
  }
  EXPECT_EQ(lines_starting(d, "call chatter(" + std::to_string(n) + ") rip=0x").size(), 1u);
  EXPECT_EQ(lines_starting(d, "return " + std::to_string(host_calls)).size(), 1u);
  EXPECT_EQ(lines_of(d).back(), "end completed");

  const std::string i = info();
  EXPECT_EQ(info_field(i, "exits"), std::to_string(host_calls + 2));
  EXPECT_EQ(info_field(i, "calls"), "2");
  EXPECT_EQ(info_field(i, "guest").substr(0, 10), "chatty.elf");
  EXPECT_EQ(info_field(i, "backend"), on_kvm() ? "kvm" : "unicorn");
  EXPECT_TRUE(info_field(i, "cpu model").starts_with("AuthenticAMD, ")) << i;
  EXPECT_EQ(info_field(i, "end"), "completed");
  EXPECT_TRUE(info_field(i, "format").starts_with("1.5 ")) << i;

  // --json: one object per line, the same exits.
  auto j = tool("hltrace", {"dump", "--json", trace_.path()});
  ASSERT_EQ(j.exit_code, 0);
  const auto json_exits = lines_starting(j.out, "{\"type\":\"exit\"");
  ASSERT_EQ(json_exits.size(), exits.size());
  EXPECT_NE(json_exits[1].find("\"kind\":\"port-out\",\"port\":27648,\"size\":1"),
            std::string::npos)
      << json_exits[1];
  EXPECT_NE(json_exits[1].find("\"host_writes\":[{\"address\":98304,\"bytes\":\"314d4c48"),
            std::string::npos)  // the reply's magic "HLM1" at the reply area (0x18000)
      << json_exits[1];
}

TEST_P(HltraceTest, EveryExampleGuest) {
  struct Case {
    std::string guest;
    std::vector<std::string> call;
    std::vector<std::string> exit_kinds;  // of the call's exits, after the initialisation's halt
    std::string end;
  };
  const std::vector<Case> cases = {
      {"hello", {"main"}, {"port-out", "halt"}, "end completed"},
      {"hello", {"greet", "world"}, {"port-out", "halt"}, "end completed"},
      {"compute", {"fib", "90"}, {"halt"}, "end completed"},
      {"compute", {"sort_hash", "40", "7"}, {"halt"}, "end completed"},
      {"buggy", {"add_sample", "5"}, {"halt"}, "end completed"},
      {"faults", {"null_deref"}, {"exception"}, "end guest-fault: #PF at 0x"},
      {"faults", {"panic"}, {"port-out"}, "end guest-fault: panic at 0x"},
      {"faults",
       {"out_of_bounds"},
       {"out-of-bounds"},
       "end guest-fault: out-of-bounds access at 0x"},
      {"clock", {"stamps", "3"}, {"halt"}, "end completed"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.guest + " " + c.call[0]);
    auto r = record(c.guest, c.call);
    ASSERT_NE(r.exit_code, 2) << r.err;
    verify_ok();
    const std::string d = dump();
    const auto exits = lines_starting(d, "exit ");
    ASSERT_EQ(exits.size(), c.exit_kinds.size() + 1) << d;
    EXPECT_TRUE(exits[0].starts_with("exit 0 halt"));
    for (size_t i = 0; i < c.exit_kinds.size(); ++i) {
      EXPECT_TRUE(
          exits[i + 1].starts_with("exit " + std::to_string(i + 1) + " " + c.exit_kinds[i] + " "))
          << exits[i + 1];
    }
    EXPECT_TRUE(lines_of(d).back().starts_with(c.end)) << lines_of(d).back();
    EXPECT_EQ(info_field(info(), "exits"), std::to_string(exits.size()));
    // The panic is an out to the panic port; the fault names vector 14 and address 0.
    if (c.call[0] == "panic") {
      EXPECT_NE(exits[1].find("port=0x6c01"), std::string::npos);
    }
    if (c.call[0] == "null_deref") {
      EXPECT_NE(exits[1].find("fault: vector=14 address=0x0"), std::string::npos) << exits[1];
    }
    if (c.guest == "clock") {
      const auto nondet = lines_starting(d, "nondet rdtsc rip=0x");
      EXPECT_EQ(nondet.size(), on_kvm() ? 0u : 3u) << d;
      EXPECT_EQ(info_field(info(), "nondet"), on_kvm() ? "0" : "3");
      if (on_kvm()) {
        EXPECT_NE(r.err.find("hlrun: warning: clock.elf: rdtsc at 0x"), std::string::npos) << r.err;
      } else {
        EXPECT_EQ(r.err, "");
      }
    }
  }
}

HLRR_INSTANTIATE_FOR_BACKENDS(HltraceTest);

// ---- a recorder killed with SIGKILL at random moments ----

pid_t spawn_quiet(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// What must match between two recordings of the same run: everything but values derived from
// the host's clock (chatty's clock_ns replies, and registers that hold them).
void expect_same_exit(const trace::Exit& a, const trace::Exit& b) {
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.port, b.port);
  EXPECT_EQ(a.access_size, b.access_size);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.registers.rip, b.registers.rip);
  EXPECT_EQ(a.registers.rsp, b.registers.rsp);
  EXPECT_EQ(a.registers.rbp, b.registers.rbp);
  EXPECT_EQ(a.registers.cs, b.registers.cs);
  ASSERT_EQ(a.host_writes.size(), b.host_writes.size());
  for (size_t i = 0; i < a.host_writes.size(); ++i) {
    EXPECT_EQ(a.host_writes[i].address, b.host_writes[i].address);
    EXPECT_EQ(a.host_writes[i].bytes.size(), b.host_writes[i].bytes.size());
  }
}

// hlrun --record stores changed pages by their checksums; --record-memory stores their bytes.
TEST(HltraceMemory, RecordMemoryKeepsPageContentsTheDefaultOnlyChecksums) {
  TempTrace dir;
  const auto run = [&](const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args = {guest_path("compute_release"),
                                     "--vcpu",
                                     "unicorn",
                                     "--record",
                                     dir.path(name),
                                     "--call",
                                     "sort_hash",
                                     "20000",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = tool("hlrun", args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "result: -4307917313543480996\n");
    auto v = tool("hltrace", {"verify", dir.path(name)});
    EXPECT_EQ(v.exit_code, 0) << v.out;
    auto i = tool("hltrace", {"info", dir.path(name)});
    return std::make_pair(info_field(i.out, "memory deltas"), info_field(i.out, "size"));
  };
  const auto [digests, digests_size] = run("a.cap", {});
  const auto [contents, contents_size] = run("b.cap", {"--record-memory"});
  // 20000 4-byte elements: 20 pages of array, plus the stack, the call areas, the heap's state.
  EXPECT_EQ(digests, "1 (0 pages, 24 page checksums)");
  EXPECT_EQ(contents, "1 (24 pages, 0 page checksums)");
  EXPECT_LT(std::stoull(digests_size) + 70000, std::stoull(contents_size));
  auto bad = tool("hlrun", {guest_path("hello"), "--record-memory"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--record-memory requires --record"), std::string::npos) << bad.err;
}

TEST(HltraceCrash, KilledRecordingsAreTruncatedPrefixesOfAFullOne) {
  constexpr int64_t kCalls = 40000;  // ~0.7 s on the software vCPU here
  TempTrace dir;
  const std::string full = dir.path("full.cap");
  const std::vector<std::string> base = {
      tool_path("hlrun"), guest_path("chatty"),   "--vcpu",    "unicorn", "--call",
      "chatter",          std::to_string(kCalls), "--timeout",
      "120000",  // not a timing test: ASan on a loaded machine can pass the default 10 s
      "--record"};
  auto args = base;
  args.push_back(full);
  auto r = run_process(args, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto reference = read_trace(full);
  ASSERT_EQ(reference.exits.size(), static_cast<size_t>(kCalls + kCalls / 1000 + 1 + 2));
  auto full_reader = trace::TraceReader::open(full);
  ASSERT_TRUE(full_reader);
  // The Setup chunk ends where chunk 1 starts: a kill before that point is not a trace yet.
  const uint64_t setup_end = (*full_reader)->chunks().at(1).offset;

  std::mt19937 rng(12345);
  int killed = 0, attempts = 0;
  const auto test_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (killed < 20 && attempts < 60 && std::chrono::steady_clock::now() < test_deadline) {
    ++attempts;
    const std::string path = dir.path("killed" + std::to_string(attempts) + ".cap");
    auto a = base;
    a.push_back(path);
    const pid_t pid = spawn_quiet(a);
    ASSERT_GT(pid, 0);
    // Wait for the Setup chunk (bounded), then a random moment of the run.
    const auto wait_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (file_size(path) < setup_end && std::chrono::steady_clock::now() < wait_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 500));
    const bool still_running = waitpid(pid, nullptr, WNOHANG) == 0;
    kill(pid, SIGKILL);
    if (still_running) waitpid(pid, nullptr, 0);
    if (!still_running) continue;               // it finished first: not a kill
    if (file_size(path) < setup_end) continue;  // killed before its Setup was on disk (heavy load)
    auto v = tool("hltrace", {"verify", path});
    if (v.exit_code == 0) {
      // Killed after the trace was finished (footer written) but before the process exited:
      // then the trace is complete and holds every exit of the reference.
      EXPECT_EQ(v.out.rfind("ok: ", 0), 0u) << v.out;
      const auto complete = read_trace(path);
      EXPECT_FALSE(complete.truncated);
      ASSERT_EQ(complete.exits.size(), reference.exits.size());
      continue;
    }
    ++killed;
    SCOPED_TRACE("kill " + std::to_string(killed) + ", " + std::to_string(file_size(path)) +
                 " bytes");

    EXPECT_EQ(v.exit_code, 3) << v.out << v.err;
    EXPECT_TRUE(
        std::regex_match(v.out, std::regex("truncated \\(footer [a-z ]+\\): [0-9]+ complete "
                                           "chunks, [0-9]+ exits recovered\n")))
        << v.out;
    const auto t = read_trace(path);
    EXPECT_TRUE(t.truncated);
    EXPECT_EQ(t.setup.guest_name, "chatty.elf");
    ASSERT_LE(t.exits.size(), reference.exits.size());
    for (size_t i = 0; i < t.exits.size(); ++i) {
      expect_same_exit(t.exits[i], reference.exits[i]);
      if (HasFailure()) return;
    }
  }
  EXPECT_GE(killed, 20) << "after " << attempts << " attempts";
}

// ---- damaged traces through the CLI ----

class HltraceCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = run_process({tool_path("hlrun"), guest_path("chatty"), "--vcpu", "unicorn", "--call",
                          "chatter", "3000", "--record", dir_.path("good.cap")},
                         std::chrono::seconds(60));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ifstream in(dir_.path("good.cap"), std::ios::binary);
    bytes_.assign(std::istreambuf_iterator<char>(in), {});
    auto reader = trace::TraceReader::open(dir_.path("good.cap"));
    ASSERT_TRUE(reader);
    ASSERT_GE((*reader)->chunks().size(), 4u);
    chunk2_ = (*reader)->chunks()[2].offset;
  }
  // Writes the damaged bytes and runs every hltrace command on them: each exits non-zero (or 3
  // for truncated) with one line, never a crash. Returns verify's result.
  ProcessResult check(const std::vector<uint8_t>& bytes) {
    const std::string path = dir_.path("bad.cap");
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    for (const char* cmd : {"info", "dump"}) {
      auto r = tool("hltrace", {cmd, path});
      EXPECT_EQ(r.signal, 0) << cmd;
      EXPECT_FALSE(r.timed_out) << cmd;
    }
    auto v = tool("hltrace", {"verify", path});
    EXPECT_EQ(v.signal, 0);
    EXPECT_EQ(lines_of(v.out).size(), 1u) << v.out;
    return v;
  }
  TempTrace dir_;
  std::vector<uint8_t> bytes_;
  uint64_t chunk2_ = 0;
};

TEST_F(HltraceCorruption, AFlippedByteInAChunkNamesTheChunk) {
  auto bytes = bytes_;
  bytes[chunk2_ + trace::kChunkHeaderSize + 100] ^= 0x40;
  auto v = check(bytes);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_EQ(v.out,
            "corrupt: chunk 2 at offset " + std::to_string(chunk2_) + ": checksum mismatch\n");
  auto info = tool("hltrace", {"info", dir_.path("bad.cap")});
  EXPECT_EQ(info.exit_code, 1);
  EXPECT_NE(info.err.find("chunk 2 at offset " + std::to_string(chunk2_) + ": checksum mismatch"),
            std::string::npos)
      << info.err;
}

TEST_F(HltraceCorruption, ACutOffFooterIsTruncatedAndEveryChunkStillReads) {
  auto bytes = bytes_;
  bytes.resize(bytes.size() - 20);
  auto v = check(bytes);
  EXPECT_EQ(v.exit_code, 3);
  EXPECT_TRUE(v.out.starts_with("truncated (footer")) << v.out;
  const auto t = read_trace(dir_.path("bad.cap"));
  EXPECT_EQ(t.exits.size(), 3000u + 3 + 1 + 2);
  auto d = tool("hltrace", {"dump", dir_.path("bad.cap")});
  EXPECT_EQ(d.exit_code, 3);
  EXPECT_EQ(lines_starting(d.out, "exit ").size(), 3000u + 3 + 1 + 2);
}

TEST_F(HltraceCorruption, AWrongMagic) {
  auto bytes = bytes_;
  bytes[1] = 'X';
  auto v = check(bytes);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_EQ(v.out, "corrupt: not an hlrr trace (bad magic)\n");
}

TEST_F(HltraceCorruption, AFutureVersion) {
  size_t header_size = 0;
  auto header = trace::decode_file_header(bytes_, &header_size, true);
  ASSERT_TRUE(header);
  header->major = 3;
  const auto encoded = trace::encode_file_header(*header);
  ASSERT_EQ(encoded.size(), header_size);
  auto bytes = bytes_;
  std::copy(encoded.begin(), encoded.end(), bytes.begin());
  auto v = check(bytes);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_EQ(v.out, "corrupt: trace format 3." + std::to_string(trace::kFormatMinor) +
                       " is newer than this hlrr reads (1.x): upgrade hlrr\n");
}

TEST(HltraceUsage, ATracePathThatIsNotARegularFile) {
  // A FIFO once blocked hltrace forever in open(); a directory failed on its first read.
  const std::string fifo = "/tmp/hlrr-hltrace-fifo-" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {std::string("/tmp"), std::string("/dev/zero"), fifo}) {
    auto r = tool("hltrace", {"info", path});
    EXPECT_EQ(r.exit_code, 1) << path << ": " << r.err;  // --help: 1 is "unreadable"
    EXPECT_EQ(r.err, "hltrace: " + path + ": not a regular file\n");
  }
  ::unlink(fifo.c_str());
}

TEST(HltraceUsage, AMissingFileAndNoCommand) {
  auto r = tool("hltrace", {"verify", "/nonexistent.cap"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines_of(r.out).size(), 1u);
  EXPECT_NE(r.out.find("/nonexistent.cap"), std::string::npos) << r.out;
  r = tool("hltrace", {});
  EXPECT_EQ(r.exit_code, 2);
  // hlrun --record into a directory that does not exist: one line, exit 2, nothing run.
  r = tool("hlrun",
           {guest_path("hello"), "--vcpu", "unicorn", "--record", "/nonexistent-dir/t.cap"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.starts_with("hlrun: --record: ")) << r.err;
  EXPECT_NE(r.err.find("/nonexistent-dir/t.cap"), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
}

}  // namespace
}  // namespace hlrr::testing
