// diff_traces names the first difference between two recordings, record by record, whatever
// chunk it falls in, and says where the recordings last agreed.
#include "trace_format/trace_diff.h"

#include <gtest/gtest.h>

#include "base/hex.h"
#include "tests/trace_format/trace_test_util.h"
#include "trace_format/trace_reader.h"

namespace hlrr::trace {
namespace {

using testing::make_setup;
using testing::RecordGenerator;
using testing::TempFile;

class TraceDiffTest : public ::testing::Test {
 protected:
  void SetUp() override { records_ = RecordGenerator(3).records(3000); }

  // Writes `a` and `b` (small chunks: a difference lands in a later chunk) and diffs them.
  DiffSummary diff(const std::vector<Record>& a, const std::vector<Record>& b,
                   const trace::Setup& setup_b = make_setup()) {
    WriterOptions options;
    options.chunk_bytes = 8 * 1024;
    testing::write_trace(file_a_.path(), make_setup(), a, End{EndKind::kCompleted, ""}, options);
    testing::write_trace(file_b_.path(), setup_b, b, End{EndKind::kCompleted, ""}, options);
    auto ra = TraceReader::open(file_a_.path());
    auto rb = TraceReader::open(file_b_.path());
    EXPECT_TRUE(ra && rb);
    auto summary = diff_traces(**ra, **rb);
    EXPECT_TRUE(summary) << summary.error().message;
    return *summary;
  }

  // The index of the n-th record of type T.
  template <class T>
  size_t nth(size_t n) const {
    for (size_t i = 0; i < records_.size(); ++i)
      if (std::holds_alternative<T>(records_[i]) && n-- == 0) return i;
    ADD_FAILURE() << "not enough records";
    return 0;
  }

  std::vector<Record> records_;
  TempFile file_a_, file_b_;
};

TEST_F(TraceDiffTest, EqualRecordingsHaveNoDifferenceAndCountWhatAgreed) {
  const DiffSummary s = diff(records_, records_);
  EXPECT_FALSE(s.first);
  EXPECT_EQ(s.exits, 3000u);
  uint64_t calls = 0;
  for (const Record& r : records_) calls += std::holds_alternative<CallStart>(r);
  EXPECT_EQ(s.calls, calls);
}

TEST_F(TraceDiffTest, ARegisterAtALateExitIsNamedWithTheLastExitBothAgreeOn) {
  auto b = records_;
  const size_t i = nth<Exit>(2500);
  auto& exit = std::get<Exit>(b[i]);
  exit.registers.r13 = 0x1234;
  const DiffSummary s = diff(records_, b);
  ASSERT_TRUE(s.first);
  EXPECT_EQ(s.first->what,
            "r13: " + base::hex(std::get<Exit>(records_[i]).registers.r13) + " vs 0x1234");
  EXPECT_EQ(s.first->where.rfind("exit 2500 (", 0), 0u) << s.first->where;
  EXPECT_EQ(s.first->last_common_exit, 2499u);
  EXPECT_EQ(s.first->last_common_count,
            std::get<Exit>(records_[nth<Exit>(2499)]).instruction_count);
  EXPECT_EQ(s.exits, 2500u);
}

TEST_F(TraceDiffTest, ACallArgumentIsNamedByItsPosition) {
  auto b = records_;
  std::get<CallStart>(b[nth<CallStart>(3)]).args[0] = int64_t{-6};
  const DiffSummary s = diff(records_, b);
  ASSERT_TRUE(s.first);
  EXPECT_EQ(s.first->what, "argument 1: -5 vs -6");
  EXPECT_EQ(s.first->where, "call 4 (add)");
  EXPECT_EQ(s.first->call, 4u);
}

TEST_F(TraceDiffTest, HostDataNondetValuesAndResults) {
  auto b = records_;
  const size_t w = [&] {
    for (size_t i = 0; i < records_.size(); ++i)
      if (auto* e = std::get_if<Exit>(&records_[i]); e && !e->host_writes.empty()) return i;
    return size_t{0};
  }();
  ASSERT_NE(w, 0u);
  std::get<Exit>(b[w]).host_writes[0].bytes[3] = 0xcd;
  DiffSummary s = diff(records_, b);
  ASSERT_TRUE(s.first);
  EXPECT_EQ(s.first->what, "host data at " +
                               base::hex(std::get<Exit>(b[w]).host_writes[0].address + 3) +
                               ": 0xab vs 0xcd");

  b = records_;
  std::get<NondetResult>(b[nth<NondetResult>(0)]).values[0] = 7;
  s = diff(records_, b);
  ASSERT_TRUE(s.first);
  EXPECT_EQ(s.first->what.rfind("rdtscp value: ", 0), 0u) << s.first->what;
  EXPECT_NE(s.first->what.find(" vs 0x7"), std::string::npos) << s.first->what;

  b = records_;
  const size_t end = nth<CallEnd>(0);
  b[end] = std::get<CallEnd>(records_[end]).is_error() ? CallEnd::result(int64_t{1})
                                                       : CallEnd::error("boom");
  s = diff(records_, b);
  ASSERT_TRUE(s.first);
  EXPECT_EQ(s.first->what.rfind("result: ", 0), 0u) << s.first->what;
}

TEST_F(TraceDiffTest, ARecordingThatStopsEarlierAndADifferentGuest) {
  auto b = records_;
  b.resize(nth<Exit>(100));
  DiffSummary s = diff(records_, b);
  ASSERT_TRUE(s.first);
  EXPECT_EQ(s.first->what, "exit vs end");
  EXPECT_EQ(s.exits, 100u);

  trace::Setup other = make_setup();
  other.elf.back() ^= 1;
  s = diff(records_, records_, other);
  ASSERT_TRUE(s.first);
  EXPECT_EQ(s.first->where, "setup of initialisation");
  EXPECT_NE(s.first->what.find("the guest ELFs differ"), std::string::npos);
}

}  // namespace
}  // namespace hlrr::trace
