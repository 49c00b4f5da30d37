// BufferedCall, the flight recorder's form of a call: records come back with their host writes,
// exits renumbered and counts made relative to the kept trace's start; undo pages take memory
// back; a reused call keeps its buffers.
#include "recorder/buffered_call.h"

#include <gtest/gtest.h>

namespace hlrr::recorder {
namespace {

constexpr uint64_t kPage = vmm::GuestMemory::kPageSize;

void fill(BufferedCall& call) {
  call.reset(7, "chatter", 1000);
  call.append(trace::CallStart{.function = "chatter", .args = {int64_t{3}}},
              std::vector<vmm::HostWrite>{{0x1000, {1, 2, 3}}, {0x5000, {4}}});
  trace::Exit exit{.sequence = 41, .kind = trace::ExitKind::kPortOut, .instruction_count = 1500};
  call.append(exit, std::vector<vmm::HostWrite>{{0x2000, {9, 8}}});
  call.append(trace::NondetResult{.instruction_count = 1600, .values = {5}});
  trace::Exit halt{.sequence = 42, .kind = trace::ExitKind::kHalt, .instruction_count = 0};
  call.append(halt);
  call.append(trace::CallEnd::result(int64_t{4}));
}

TEST(BufferedCall, GivesBackItsRecordsWithHostWritesRenumberedAndRebased) {
  BufferedCall call;
  fill(call);
  EXPECT_EQ(call.number, 7u);
  EXPECT_EQ(call.call_start().function, "chatter");
  EXPECT_TRUE(call.call_start().host_writes.empty());  // held in the arena until kept
  std::vector<trace::Record> out;
  uint64_t sequence = 3;
  call.copy_records(out, sequence, 1000);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(sequence, 5u);
  const auto& start = std::get<trace::CallStart>(out[0]);
  ASSERT_EQ(start.host_writes.size(), 2u);
  EXPECT_EQ(start.host_writes[0], (trace::MemoryWrite{0x1000, {1, 2, 3}}));
  EXPECT_EQ(start.host_writes[1], (trace::MemoryWrite{0x5000, {4}}));
  EXPECT_EQ(start.args, std::vector<trace::Value>{int64_t{3}});
  const auto& exit = std::get<trace::Exit>(out[1]);
  EXPECT_EQ(exit.sequence, 3u);
  EXPECT_EQ(exit.instruction_count, 500u);
  EXPECT_EQ(exit.host_writes, (std::vector<trace::MemoryWrite>{{0x2000, {9, 8}}}));
  EXPECT_EQ(std::get<trace::NondetResult>(out[2]).instruction_count, 600u);
  const auto& halt = std::get<trace::Exit>(out[3]);
  EXPECT_EQ(halt.sequence, 4u);
  EXPECT_EQ(halt.instruction_count, 0u);  // unknown stays unknown
  EXPECT_TRUE(halt.host_writes.empty());
  EXPECT_EQ(std::get<trace::CallEnd>(out[4]), trace::CallEnd::result(int64_t{4}));
}

TEST(BufferedCall, UndoPagesTakeMemoryBackToTheCallsStart) {
  BufferedCall call;
  call.reset(1, "f", 0);
  std::vector<uint8_t> old_page(kPage, 0xAB);
  call.save_undo(2, old_page.data());
  std::vector<uint8_t> memory(4 * kPage, 0x11);
  call.undo(memory);
  EXPECT_EQ(memory[2 * kPage], 0xAB);
  EXPECT_EQ(memory[3 * kPage - 1], 0xAB);
  EXPECT_EQ(memory[2 * kPage - 1], 0x11);
  EXPECT_EQ(memory[3 * kPage], 0x11);
}

TEST(BufferedCall, AReusedCallKeepsItsBuffersAndForgetsItsRecords) {
  BufferedCall call;
  fill(call);
  std::vector<uint8_t> page(kPage, 1);
  call.save_undo(0, page.data());
  const uint64_t capacity = call.capacity_bytes();
  fill(call);  // reset() and the same call again: nothing grows
  EXPECT_EQ(call.capacity_bytes(), capacity);
  std::vector<trace::Record> out;
  uint64_t sequence = 0;
  call.copy_records(out, sequence, 1000);
  EXPECT_EQ(out.size(), 5u);
  std::vector<uint8_t> memory(kPage, 7);
  call.undo(memory);  // the earlier undo page was forgotten
  EXPECT_EQ(memory[0], 7);
  call.drop_records();
  EXPECT_TRUE(call.empty());
}

}  // namespace
}  // namespace hlrr::recorder
