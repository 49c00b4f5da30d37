// Recordings of several calls: restored snapshots between recorded calls replay exactly, the
// calls are indexed from the trace, and the replay target seeks to the start of call N.
#include <gtest/gtest.h>

#include "recorder/convert.h"
#include "replay/call_index.h"
#include "replay/replay_session.h"
#include "replay/replay_target.h"
#include "replay/timeline.h"
#include "replay_test_util.h"
#include "trace_format/trace_reader.h"

namespace hlrr::replay {
namespace {

using testing::TempDir;
using vmm::Value;

std::unique_ptr<vmm::Sandbox> load_buggy() {
  auto image = vmm::ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/buggy.elf");
  EXPECT_TRUE(image);
  vmm::SandboxConfig config;
  config.vcpu = vmm::VcpuKind::kUnicorn;
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(config));
  EXPECT_TRUE(sandbox);
  return std::move(*sandbox);
}

int64_t returned(base::Expected<vmm::Value, vmm::Fault> result) {
  EXPECT_TRUE(result.has_value()) << result.error().to_string();
  return result ? std::get<int64_t>(*result) : -999;
}

int64_t replayed_count(ReplaySession& s) {
  const auto at = s.image().symbols().address_of("g_stats");
  EXPECT_TRUE(at.has_value());
  auto count = s.memory().read_value<int64_t>(*at + 16 * 8);  // samples[16], then count
  return count ? *count : -999;
}

// A restore between calls is a host write: the next call's start carries the pages it put
// back, for both kinds of restore (the latest snapshot's dirty pages, an older one's compare).
TEST(RecordedCalls, RestoredSnapshotsBetweenCallsReplayExactly) {
  TempDir dir;
  auto sandbox = load_buggy();
  auto rec = recorder::record_to(*sandbox, dir.path("r.cap"), {.guest_name = "buggy.elf"});
  ASSERT_TRUE(rec) << rec.error().message;
  ASSERT_EQ(sandbox->resume().kind, vmm::RunOutcome::Kind::kReturned);
  const vmm::Snapshot initialised = sandbox->snapshot();
  EXPECT_EQ(returned(sandbox->call("add_sample", {{Value{int64_t{5}}}})), 1);
  ASSERT_TRUE(sandbox->restore(initialised));
  EXPECT_EQ(returned(sandbox->call("add_sample", {{Value{int64_t{7}}}})), 1);
  const vmm::Snapshot one_sample = sandbox->snapshot();
  EXPECT_EQ(returned(sandbox->call("add_sample", {{Value{int64_t{9}}}})), 2);
  ASSERT_TRUE(sandbox->restore(initialised));  // not the latest snapshot
  EXPECT_EQ(returned(sandbox->call("sample_count")), 0);
  ASSERT_TRUE(sandbox->restore(one_sample));
  EXPECT_EQ(returned(sandbox->call("mean")), 7);
  ASSERT_TRUE((*rec)->finish());

  auto session = ReplaySession::open(dir.path("r.cap"));
  ASSERT_TRUE(session) << session.error().message;
  ReplaySession& s = **session;
  ASSERT_EQ(s.run_to_end(), StopKind::kEnd) << s.divergence();
  EXPECT_EQ(s.end_note(), "completed");
  EXPECT_EQ(s.exits_replayed(), 6u);  // the initialisation's halt and one halt a call
  EXPECT_EQ(replayed_count(s), 1);
  EXPECT_EQ(s.calls_started(), 6u);
}

TEST(RecordedCalls, TheTraceIsIndexedByCallWithArgumentsExitsAndResults) {
  TempDir dir;
  ASSERT_TRUE(testing::record_guest(
      "buggy",
      {{"add_sample", {Value{int64_t{10}}}}, {"add_sample", {Value{int64_t{20}}}}, {"mean", {}}},
      dir.path("b.cap")));
  auto reader = trace::TraceReader::open(dir.path("b.cap"));
  ASSERT_TRUE(reader);
  auto calls = index_calls(**reader);
  ASSERT_TRUE(calls) << calls.error().message;
  ASSERT_EQ(calls->size(), 4u);
  std::vector<std::string> lines;
  for (const CallInfo& c : *calls) {
    lines.push_back(std::to_string(c.index) + " " + call_text(c) + " " +
                    std::to_string(c.first_exit) + "-" + std::to_string(c.end_exit) + " " +
                    outcome_text(c));
  }
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "0 (initialisation) 0-1 returned " +
                           std::to_string(std::get<int64_t>(std::get<0>((*calls)[0].end->outcome))),
                       "1 add_sample(10) 1-2 returned 1", "2 add_sample(20) 2-3 returned 2",
                       "3 mean() 3-4 returned 15"}));

  ASSERT_TRUE(testing::record_guest("faults", {{"still_alive", {}}, {"null_deref", {}}},
                                    dir.path("f.cap")));
  reader = trace::TraceReader::open(dir.path("f.cap"));
  ASSERT_TRUE(reader);
  calls = index_calls(**reader);
  ASSERT_TRUE(calls);
  ASSERT_EQ(calls->size(), 3u);
  EXPECT_EQ(call_text((*calls)[2]), "null_deref()");
  EXPECT_EQ(outcome_text((*calls)[2]).rfind("fault: #PF at ", 0), 0u) << outcome_text((*calls)[2]);
}

// monitor seek-call N lands on the state the recording started call N with, either way.
TEST(RecordedCalls, SeekCallGoesToTheFirstInstructionOfTheCallAndWhenNamesIt) {
  TempDir dir;
  std::vector<testing::CallSpec> calls;
  for (int64_t v = 1; v <= 5; ++v) calls.push_back({"add_sample", {Value{v * 100}}});
  ASSERT_TRUE(testing::record_guest("buggy", calls, dir.path("c.cap")));
  std::vector<vmm::RegisterFile> starts;
  auto reader = trace::TraceReader::open(dir.path("c.cap"));
  ASSERT_TRUE(reader);
  ASSERT_TRUE((*reader)->for_each_record([&](const trace::Record& r) {
    if (auto* c = std::get_if<trace::CallStart>(&r)) {
      starts.push_back(recorder::from_trace(*c->registers));
    }
    return true;
  }));
  ASSERT_EQ(starts.size(), 6u);

  auto session = ReplaySession::open(dir.path("c.cap"));
  ASSERT_TRUE(session);
  Timeline timeline(**session, {.interval = 1000});
  ReplayTarget target(timeline);
  for (uint64_t n : {4, 2, 5, 0}) {
    SCOPED_TRACE(n);
    auto said = target.run("seek-call " + std::to_string(n));
    ASSERT_TRUE(said) << said.error().message;
    const std::string name = n == 0 ? "initialisation" : "add_sample";
    EXPECT_NE(said->find(", in call " + std::to_string(n) + " (" + name + ")\n"), std::string::npos)
        << *said;
    // The guest-visible registers (control registers are the backend's own).
    const vmm::RegisterFile regs = *(*session)->registers();
    EXPECT_EQ(vmm::first_difference(regs, starts[n]), std::nullopt) << *said;
    EXPECT_EQ(regs.rip, starts[n].rip);
    if (n > 0) {
      EXPECT_EQ(replayed_count(**session), static_cast<int64_t>(n - 1));
    }
  }
  ASSERT_TRUE(target.run("seek-call 3"));
  auto listed = target.run("calls");
  ASSERT_TRUE(listed) << listed.error().message;
  const uint64_t start3 = *(*session)->call_start(3);
  EXPECT_NE(
      listed->find("=> 3 add_sample(300): exits 3-3, from instruction " + std::to_string(start3)),
      std::string::npos)
      << *listed;
  EXPECT_NE(listed->find("   5 add_sample(500): exits 5-5, from instruction "), std::string::npos)
      << *listed;
  EXPECT_NE(listed->find(", returned 5\n"), std::string::npos) << *listed;
  auto bad = target.run("seek-call 6");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "no call 6: the recording has calls 0-5 (monitor calls lists them)");
  bad = target.run("seek-call x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "usage: seek-call N (a call number, monitor calls)");
}

}  // namespace
}  // namespace hlrr::replay
