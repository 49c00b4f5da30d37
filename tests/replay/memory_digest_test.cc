// Memory deltas hold page checksums by default (format 1.5): a run that writes megabytes
// records kilobytes, replay still checks memory at every delta, and the full contents come back
// with RecordOptions::memory_contents (hlrun --record-memory).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "replay/replay_session.h"
#include "replay_test_util.h"
#include "trace_format/file_layout.h"

namespace hlrr::replay {
namespace {

using testing::rewrite;
using testing::TempDir;
using vmm::Value;

struct Deltas {
  size_t records = 0, pages = 0, digests = 0;
};

Deltas deltas_of(const std::string& path) {
  Deltas d;
  auto reader = trace::TraceReader::open(path);
  EXPECT_TRUE(reader) << reader.error().message;
  if (!reader) return d;
  EXPECT_TRUE((*reader)->for_each_record([&](const trace::Record& r) {
    if (auto* m = std::get_if<trace::MemoryDelta>(&r)) {
      ++d.records;
      d.pages += m->pages.size();
      d.digests += m->page_digests.size();
    }
    return true;
  }));
  return d;
}

// sort_hash(100000) writes a 400 KB array (98 pages): once as page contents, the trace held
// them all (~400 KB); as checksums, 16 bytes a page.
TEST(MemoryDigest, ARunThatWritesHundredsOfKilobytesRecordsAFewAndReplaysExactly) {
  TempDir dir;
  const std::string path = dir.path("sort.cap");
  ASSERT_TRUE(testing::record_guest(
      "compute_release", {{"sort_hash", {Value{int64_t{100000}}, Value{int64_t{1}}}}}, path));
  const Deltas d = deltas_of(path);
  EXPECT_EQ(d.records, 1u);
  EXPECT_EQ(d.pages, 0u);
  EXPECT_GE(d.digests, 98u);
  EXPECT_LT(std::filesystem::file_size(path), 64u * 1024) << "bytes";

  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ((*session)->run_to_end(), StopKind::kEnd) << (*session)->divergence();
  EXPECT_EQ((*session)->exits_replayed(), 2u);
}

TEST(MemoryDigest, MemoryContentsAreKeptWhenAskedFor) {
  TempDir dir;
  const std::string path = dir.path("sort.cap");
  ASSERT_TRUE(testing::record_guest(
      "compute_release", {{"sort_hash", {Value{int64_t{100000}}, Value{int64_t{1}}}}}, path,
      vmm::VcpuKind::kUnicorn, std::chrono::seconds(10), {.memory_contents = true}));
  const Deltas d = deltas_of(path);
  EXPECT_EQ(d.records, 1u);
  EXPECT_EQ(d.digests, 0u);
  EXPECT_GE(d.pages, 98u);
  EXPECT_GT(std::filesystem::file_size(path), 300u * 1024);
  auto session = ReplaySession::open(path);
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ((*session)->run_to_end(), StopKind::kEnd) << (*session)->divergence();
}

// A checksum that does not match replayed memory is a divergence naming the page and the exit.
TEST(MemoryDigest, AMismatchedChecksumIsADivergenceNamingThePage) {
  TempDir dir;
  ASSERT_TRUE(
      testing::record_guest("buggy", {{"add_sample", {Value{int64_t{4}}}}}, dir.path("a.cap")));
  uint64_t address = 0, exit = 0;
  rewrite(dir.path("a.cap"), dir.path("b.cap"), [&](trace::Record& r) {
    if (auto* d = std::get_if<trace::MemoryDelta>(&r); d && !d->page_digests.empty()) {
      d->page_digests[0].checksum ^= 1;
      address = d->page_digests[0].address;
      exit = d->exit_sequence;
    }
  });
  ASSERT_NE(address, 0u);
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ((*session)->run_to_end(), StopKind::kDivergence);
  char page[64];
  std::snprintf(page, sizeof page, "page 0x%llx differs", static_cast<unsigned long long>(address));
  const std::string& line = (*session)->divergence();
  EXPECT_NE(line.find("memory after exit " + std::to_string(exit)), std::string::npos) << line;
  EXPECT_NE(line.find(page), std::string::npos) << line;
}

// A page listed as contents and as a checksum in one delta is refused, as a page listed twice.
TEST(MemoryDigest, APageListedTwiceIsRefusedAtOpen) {
  TempDir dir;
  ASSERT_TRUE(
      testing::record_guest("buggy", {{"add_sample", {Value{int64_t{4}}}}}, dir.path("a.cap")));
  rewrite(dir.path("a.cap"), dir.path("b.cap"), [&](trace::Record& r) {
    if (auto* d = std::get_if<trace::MemoryDelta>(&r); d && !d->page_digests.empty()) {
      d->page_digests.push_back(d->page_digests[0]);
    }
  });
  auto session = ReplaySession::open(dir.path("b.cap"));
  ASSERT_FALSE(session);
  EXPECT_NE(session.error().message.find("is listed twice"), std::string::npos)
      << session.error().message;
}

}  // namespace
}  // namespace hlrr::replay
