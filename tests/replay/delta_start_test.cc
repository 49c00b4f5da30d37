// A far seek on a recording whose memory deltas hold contents (hlrun --record-memory) starts from
// the nearest delta, rebuilding memory from Setup and the deltas instead of re-executing: the
// state it reaches is the one replay from the start reaches, byte for byte, and replay goes on
// from it forward (deterministically, to the end) and backward (past the delta, to earlier calls).
#include <gtest/gtest.h>

#include <cstring>

#include "replay/timeline.h"
#include "replay_test_util.h"

namespace hlrr::replay {
namespace {

// buggy's calls, round after round: reset, five samples, a count. One exit each (the halt).
std::vector<testing::CallSpec> session_calls() {
  std::vector<testing::CallSpec> calls;
  for (int64_t round = 0; round < 60; ++round) {
    calls.push_back({"reset", {}});
    for (int64_t k = 1; k <= 5; ++k) calls.push_back({"add_sample", {vmm::Value{round * 10 + k}}});
    calls.push_back({"sample_count", {}});
  }
  return calls;
}

std::string record_session(const testing::TempDir& dir, bool contents) {
  const std::string path = dir.path(contents ? "memory.cap" : "checksums.cap");
  recorder::RecordOptions options;
  options.memory_contents = contents;
  options.delta_every_exits = 8;
  EXPECT_TRUE(testing::record_guest("buggy", session_calls(), path, vmm::VcpuKind::kUnicorn,
                                    std::chrono::seconds(10), options));
  return path;
}

std::vector<uint8_t> all_memory(ReplaySession& s) {
  std::vector<uint8_t> bytes(s.memory().size());
  EXPECT_TRUE(s.memory().read(0, bytes));
  return bytes;
}

// The state at one position, as replay from the start reaches it.
struct State {
  uint64_t count = 0;
  vmm::RegisterFile registers;
  std::vector<uint8_t> memory;
  uint64_t exits = 0;
  std::optional<uint64_t> call;
};

State state_of(Timeline& timeline) {
  ReplaySession& s = timeline.session();
  return {timeline.now(), *s.registers(), all_memory(s), s.exits_replayed(),
          s.current_call_number()};
}

void expect_state(Timeline& timeline, const State& expected) {
  ReplaySession& s = timeline.session();
  EXPECT_EQ(timeline.now(), expected.count);
  EXPECT_EQ(vmm::first_difference(*s.registers(), expected.registers), std::nullopt);
  EXPECT_EQ(*s.registers(), expected.registers);
  const std::vector<uint8_t> memory = all_memory(s);
  ASSERT_EQ(memory.size(), expected.memory.size());
  size_t differ = 0;
  while (differ < memory.size() && memory[differ] == expected.memory[differ]) ++differ;
  EXPECT_EQ(differ, memory.size()) << "first differing byte at " << differ;
  EXPECT_EQ(s.exits_replayed(), expected.exits);
  EXPECT_EQ(s.current_call_number(), expected.call);
}

class DeltaStart : public ::testing::Test {
 protected:
  void SetUp() override {
    memory_path_ = record_session(dir_, true);
    checksums_path_ = record_session(dir_, false);
    // The reference: replay from the start, no delta ever used.
    auto session = ReplaySession::open(memory_path_);
    ASSERT_TRUE(session) << session.error().message;
    reference_ = std::move(*session);
    timeline_ = std::make_unique<Timeline>(
        *reference_, TimelineOptions{.interval = 1000, .delta_starts = false});
    ASSERT_EQ(timeline_->seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(reference_->end_note(), "completed");
    end_ = timeline_->now();
    calls_ = reference_->calls_started();
    ASSERT_EQ(calls_, 1 + session_calls().size());
  }

  std::unique_ptr<ReplaySession> open(const std::string& path) {
    auto session = ReplaySession::open(path);
    EXPECT_TRUE(session) << session.error().message;
    return session ? std::move(*session) : nullptr;
  }

  // Late positions: the starts of late calls, and counts inside calls.
  std::vector<uint64_t> late_positions() const {
    return {*reference_->call_start(calls_ - 1), *reference_->call_start(calls_ - 40) + 17,
            *reference_->call_start(calls_ - 123), end_ * 2 / 3 + 1, end_ - 5};
  }

  testing::TempDir dir_;
  std::string memory_path_, checksums_path_;
  std::unique_ptr<ReplaySession> reference_;
  std::unique_ptr<Timeline> timeline_;
  uint64_t end_ = 0;
  uint64_t calls_ = 0;
};

TEST_F(DeltaStart, ALateSeekReachesTheStateReplayFromTheStartReaches) {
  for (uint64_t at : late_positions()) {
    SCOPED_TRACE(at);
    ASSERT_EQ(timeline_->seek(at).kind, TimelineStop::Kind::kStep);
    const State expected = state_of(*timeline_);
    auto session = open(memory_path_);
    ASSERT_TRUE(session);
    Timeline timeline(*session, {.interval = 1000});
    ASSERT_EQ(timeline.seek(at).kind, TimelineStop::Kind::kStep) << session->divergence();
    EXPECT_EQ(timeline.delta_starts(), 1u);
    // From the delta, at most the 8 calls between two deltas are replayed.
    EXPECT_LT(timeline.instructions_replayed(), at / 10);
    expect_state(timeline, expected);
    // What replay would have learned on the way is known: the exits passed, the calls' starts.
    ASSERT_EQ(session->exits().size(), expected.exits);
    for (size_t i = 0; i < session->exits().size(); ++i) {
      EXPECT_EQ(session->exits()[i].instruction_count, reference_->exits()[i].instruction_count);
      EXPECT_EQ(session->exits()[i].rip, reference_->exits()[i].rip);
      EXPECT_EQ(session->exits()[i].call, reference_->exits()[i].call);
    }
    for (uint64_t n = 0; n < session->calls_started(); ++n) {
      EXPECT_EQ(session->call_start(n), reference_->call_start(n)) << "call " << n;
    }
    // And replay goes on from there exactly as recorded (every exit compared, memory at every
    // delta, instruction counts): hlreplay --check's verdict from a delta start.
    EXPECT_EQ(session->run_to_end(), StopKind::kEnd) << session->divergence();
    EXPECT_EQ(session->end_note(), "completed");
    EXPECT_EQ(session->exits_replayed(), session->recorded_exits());
    EXPECT_EQ(timeline.now(), end_);
  }
}

// One session, seeks forward and back: a later start goes on from the memory the one before
// rebuilt (reading only the chunks after it), an earlier one rebuilds from Setup, and one near
// a checkpoint the starts left behind starts from that checkpoint.
TEST_F(DeltaStart, SuccessiveSeeksEachStartFromTheNearestDeltaOrCheckpoint) {
  auto session = open(memory_path_);
  ASSERT_TRUE(session);
  Timeline timeline(*session, {.interval = 1000});
  const std::vector<std::pair<uint64_t, uint64_t>> seeks = {
      {end_ / 3, 1}, {end_ / 2, 2},     {end_ * 2 / 3 + 11, 3},
      {end_ - 5, 4}, {end_ / 2 + 7, 4},  // replay passed it from the delta before end / 2
      {end_ / 5, 5}};
  for (const auto& [at, starts] : seeks) {
    SCOPED_TRACE(at);
    ASSERT_EQ(timeline_->seek(at).kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(timeline.seek(at).kind, TimelineStop::Kind::kStep) << session->divergence();
    EXPECT_EQ(timeline.delta_starts(), starts);
    expect_state(timeline, state_of(*timeline_));
  }
  EXPECT_EQ(session->run_to_end(), StopKind::kEnd) << session->divergence();
  EXPECT_EQ(session->end_note(), "completed");
}

TEST_F(DeltaStart, ARecordingOfChecksumsGivesTheSameStatesByReplaying) {
  for (uint64_t at : late_positions()) {
    SCOPED_TRACE(at);
    ASSERT_EQ(timeline_->seek(at).kind, TimelineStop::Kind::kStep);
    const State expected = state_of(*timeline_);
    auto session = open(checksums_path_);
    ASSERT_TRUE(session);
    Timeline timeline(*session, {.interval = 1000});
    ASSERT_EQ(timeline.seek(at).kind, TimelineStop::Kind::kStep) << session->divergence();
    EXPECT_EQ(timeline.delta_starts(), 0u);
    EXPECT_GE(timeline.instructions_replayed(), at);
    expect_state(timeline, expected);
    ASSERT_NE(timeline.deltas(), nullptr);
    EXPECT_EQ(timeline.deltas()->why_none(),
              "the recording's memory deltas hold checksums only (record with --record-memory)");
  }
}

// After a delta start, reverse-stepi and reverse-continue (a watchpoint on g_stats.count, hit
// in each earlier add_sample and reset) stop where they stop on a replay from the start, back
// past the delta into calls before it.
TEST_F(DeltaStart, ReverseExecutionGoesBackPastTheDelta) {
  const uint64_t count_address = *reference_->image().symbols().address_of("g_stats") + 16 * 8;
  const vmm::DebugPoint watch{vmm::DebugPointKind::kWriteWatch, count_address, 8};
  const uint64_t at = *reference_->call_start(calls_ - 1);  // the last sample_count
  auto session = open(memory_path_);
  ASSERT_TRUE(session);
  Timeline timeline(*session, {.interval = 1000});
  ASSERT_EQ(timeline.seek(at).kind, TimelineStop::Kind::kStep);
  ASSERT_EQ(timeline.delta_starts(), 1u);
  const uint64_t delta_call = *session->current_call_number();

  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(timeline_->seek(timeline.now() - 1).kind, TimelineStop::Kind::kStep);
    ASSERT_EQ(timeline.step_backward().kind, TimelineStop::Kind::kStep);
    expect_state(timeline, state_of(*timeline_));
  }
  ASSERT_TRUE(timeline.set_debug_points({watch}));
  ASSERT_TRUE(timeline_->set_debug_points({watch}));
  // 24 stops: back through four rounds (five count++ and the reset's memset each), ~3 deltas.
  for (int i = 0; i < 24; ++i) {
    SCOPED_TRACE(i);
    const TimelineStop stop = timeline.continue_backward({});
    ASSERT_EQ(stop.kind, TimelineStop::Kind::kWatchpoint) << session->divergence();
    EXPECT_EQ(stop.address, count_address);
    const TimelineStop expected = timeline_->continue_backward({});
    ASSERT_EQ(expected.kind, TimelineStop::Kind::kWatchpoint);
    expect_state(timeline, state_of(*timeline_));
  }
  EXPECT_LT(*session->current_call_number(), delta_call - 20);
  // Each interval before the delta was searched from the delta before it, not from the start:
  // the 24 searches together cover a few rounds, not the recording again and again.
  EXPECT_GE(timeline.delta_starts(), 4u);
  EXPECT_LT(timeline.instructions_searched(), end_ / 4);
  ASSERT_TRUE(timeline.set_debug_points({}));
  EXPECT_EQ(timeline.seek(UINT64_MAX).kind, TimelineStop::Kind::kStep);
  EXPECT_EQ(session->end_note(), "completed");
}

}  // namespace
}  // namespace hlrr::replay
