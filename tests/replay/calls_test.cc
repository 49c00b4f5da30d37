// Recordings of several calls: restored snapshots between recorded calls replay exactly.
#include <gtest/gtest.h>

#include "replay/replay_session.h"
#include "replay_test_util.h"

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
}

}  // namespace
}  // namespace hlrr::replay
