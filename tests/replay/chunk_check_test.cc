// ReplaySession::open(ChunkCheck): a session for a debugger reads only the index and Setup, so
// opening costs the same for any length of recording; every chunk still passes hltrace verify's
// checks before replay uses it, and a damaged one stops replay where it is reached.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "replay/replay_session.h"
#include "replay_test_util.h"

namespace hlrr::replay {
namespace {

using testing::TempDir;
using vmm::Value;

// chatter(3000): 3004 host calls and 2 halts, in many chunks.
std::string record_chatter(const TempDir& dir) {
  const std::string path = dir.path("chatter.cap");
  EXPECT_TRUE(testing::record_guest("chatty", {{"chatter", {Value{int64_t{3000}}}}}, path));
  return path;
}

TEST(ChunkCheck, OpeningWhenReachedReadsOnlySetupAndReplaysTheSame) {
  TempDir dir;
  const std::string path = record_chatter(dir);
  auto eager = ReplaySession::open(path);
  ASSERT_TRUE(eager) << eager.error().message;
  const size_t chunks = (*eager)->reader().chunks().size();
  ASSERT_GT(chunks, 10u);
  EXPECT_EQ((*eager)->chunks_checked(), chunks);

  auto lazy = ReplaySession::open(path, ChunkCheck::kWhenReached);
  ASSERT_TRUE(lazy) << lazy.error().message;
  EXPECT_EQ((*lazy)->chunks_checked(), 0u);
  EXPECT_EQ((*lazy)->recorded_records(), (*eager)->recorded_records());
  EXPECT_EQ((*lazy)->run_to(1000), StopKind::kReachedCount);
  EXPECT_LT((*lazy)->chunks_checked(), 4u);
  EXPECT_EQ((*lazy)->run_to_end(), StopKind::kEnd) << (*lazy)->divergence();
  EXPECT_EQ((*lazy)->chunks_checked(), chunks);
  EXPECT_EQ((*eager)->run_to_end(), StopKind::kEnd) << (*eager)->divergence();
  EXPECT_EQ((*lazy)->exits_replayed(), 3006u);
  EXPECT_EQ((*lazy)->instruction_count(), (*eager)->instruction_count());
  EXPECT_EQ((*lazy)->end_note(), "completed");
}

TEST(ChunkCheck, ADamagedChunkFailsOpenOrStopsReplayWhereItIsReached) {
  TempDir dir;
  const std::string path = record_chatter(dir);
  uint64_t first_exit = 0, offset = 0;
  size_t damaged = 0;
  {
    auto reader = trace::TraceReader::open(path);
    ASSERT_TRUE(reader);
    damaged = (*reader)->chunks().size() / 2;
    first_exit = (*reader)->chunks()[damaged].first_exit;
    offset = (*reader)->chunks()[damaged].offset;
  }
  FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_TRUE(f);
  std::fseek(f, static_cast<long>(offset + trace::kChunkHeaderSize + 10), SEEK_SET);
  std::fwrite("\xff\xff\xff\xff", 1, 4, f);
  std::fclose(f);
  const std::string error = "chunk " + std::to_string(damaged) + " at offset " +
                            std::to_string(offset) + ": checksum mismatch";

  auto eager = ReplaySession::open(path);
  ASSERT_FALSE(eager);
  EXPECT_EQ(eager.error().message, error);

  auto lazy = ReplaySession::open(path, ChunkCheck::kWhenReached);
  ASSERT_TRUE(lazy) << lazy.error().message;
  EXPECT_EQ((*lazy)->run_to_end(), StopKind::kDivergence);
  EXPECT_EQ((*lazy)->divergence(), "reading the recording: " + error);
  EXPECT_EQ((*lazy)->exits_replayed(), first_exit);  // every exit before the damaged chunk
  EXPECT_EQ((*lazy)->chunks_checked(), damaged);
}

// The first checkpoint (Timeline takes it at count 0, before a debugger is served) copies only
// the pages that hold something: copying all of a 64 MiB guest took most of the start-up.
TEST(ChunkCheck, TheFirstCheckpointCopiesOnlyThePagesThatHoldSomething) {
  TempDir dir;
  const std::string path = record_chatter(dir);
  auto reader = trace::TraceReader::open(path);
  ASSERT_TRUE(reader);
  const size_t setup_pages = (*reader)->setup()->initial_memory.size();
  auto session = ReplaySession::open(path, ChunkCheck::kWhenReached);
  ASSERT_TRUE(session) << session.error().message;
  ASSERT_GT(setup_pages, 5u);
  ASSERT_EQ((*session)->run_to(0), StopKind::kReachedCount);
  const ReplaySession::Checkpoint c = (*session)->checkpoint();
  vmm::GuestMemory& memory = (*session)->memory();
  ASSERT_EQ(c.pages.size(), memory.page_count());
  EXPECT_GE(c.own_bytes, setup_pages * 4096);
  EXPECT_LE(c.own_bytes, (setup_pages + 4) * 4096);
  for (size_t page = 0; page < c.pages.size(); ++page) {
    ASSERT_EQ(std::memcmp(c.pages[page]->data(), memory.host_base() + page * 4096, 4096), 0)
        << "page " << page;
  }
  // Replay on, back to the checkpoint: the same memory and count as at the start.
  ASSERT_EQ((*session)->run_to(20000), StopKind::kReachedCount);
  (*session)->restore(c);
  EXPECT_EQ((*session)->instruction_count(), 0u);
  for (size_t page = 0; page < c.pages.size(); ++page) {
    ASSERT_EQ(std::memcmp(c.pages[page]->data(), memory.host_base() + page * 4096, 4096), 0)
        << "page " << page;
  }
  EXPECT_EQ((*session)->run_to_end(), StopKind::kEnd) << (*session)->divergence();
  EXPECT_EQ((*session)->exits_replayed(), 3006u);
}

}  // namespace
}  // namespace hlrr::replay
