// The checkpoint budget derived from the guest's memory size, so that hlreplay's whole memory
// stays within its budget (512 MiB by default) for a 64 or a 128 MiB guest (docs/replay.md).
#include "replay/memory_budget.h"

#include <gtest/gtest.h>

#include "recorder/recorder.h"
#include "replay/timeline.h"
#include "replay_test_util.h"

namespace hlrr::replay {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

TEST(MemoryBudget, CheckpointsGetWhatTheGuestAndOneCheckpointPerKindLeave) {
  // 448 MiB (512 less what the process holds besides) - guest - one checkpoint beyond the cap
  // (thinning runs after a checkpoint is taken) - the recent checkpoints' max(64 MiB, guest).
  EXPECT_EQ(checkpoint_budget(64 * kMiB), 256 * kMiB);
  EXPECT_EQ(checkpoint_budget(128 * kMiB), 64 * kMiB);
  EXPECT_EQ(checkpoint_budget(256 * kMiB), kMinimumCheckpointBudget);  // cannot hold: the floor
  EXPECT_EQ(checkpoint_budget(4 * kMiB), 376 * kMiB);
  EXPECT_EQ(checkpoint_budget(128 * kMiB, 1024 * kMiB), 576 * kMiB);
  EXPECT_EQ(kMinimumCheckpointBudget, 32 * kMiB);
}

// Records compute's fib(10) in a guest of `memory` bytes.
std::string record_in(testing::TempDir& dir, uint64_t memory) {
  auto image = vmm::ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/compute.elf");
  EXPECT_TRUE(image);
  vmm::SandboxConfig config;
  config.vcpu = vmm::VcpuKind::kUnicorn;
  config.memory_size = memory;
  config.timeout = std::chrono::milliseconds(0);  // none: a loaded machine is no failure
  config.output = [](std::string_view) {};
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(config));
  EXPECT_TRUE(sandbox);
  const std::string path = dir.path(std::to_string(memory >> 20) + ".cap");
  auto rec = recorder::record_to(**sandbox, path, {.guest_name = "compute.elf"});
  EXPECT_TRUE(rec);
  EXPECT_EQ((*sandbox)->resume().kind, vmm::RunOutcome::Kind::kReturned);
  const std::vector<vmm::Value> args = {int64_t{10}};
  EXPECT_TRUE((*sandbox)->call("fib", args));
  EXPECT_TRUE((*rec)->finish());
  return path;
}

TEST(MemoryBudget, TheTimelineCapsItsCheckpointsByTheGuestsMemorySize) {
  testing::TempDir dir;
  for (const auto& [memory, cap] : {std::pair{64 * kMiB, 256 * kMiB}, {128 * kMiB, 64 * kMiB}}) {
    SCOPED_TRACE(memory);
    auto session = ReplaySession::open(record_in(dir, memory));
    ASSERT_TRUE(session);
    EXPECT_EQ((*session)->memory().size(), memory);
    EXPECT_EQ(Timeline(**session).memory_cap(), cap);
    // A larger budget (hlreplay --memory-budget) leaves more; an explicit cap is kept as given.
    EXPECT_EQ(Timeline(**session, {.memory_budget = 1024 * kMiB}).memory_cap(),
              checkpoint_budget(memory, 1024 * kMiB));
    EXPECT_EQ(Timeline(**session, {.memory_cap = 2 * kMiB}).memory_cap(), 2 * kMiB);
  }
}

}  // namespace
}  // namespace hlrr::replay
