// Every example guest, run for real on the software vCPU, against values computed here
// independently of the guest.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "tests/integration/guests.h"

namespace hlrr::testing {
namespace {

using vmm::Value;

class Examples : public BackendTest {};
class Snapshot : public BackendTest {};
HLRR_INSTANTIATE_FOR_BACKENDS(Examples);
HLRR_INSTANTIATE_FOR_BACKENDS(Snapshot);

// compute.c's sort_hash, reimplemented from its documented definition.
int64_t reference_sort_hash(int64_t n, int64_t seed) {
  uint64_t x = seed == 0 ? 0x9E3779B97F4A7C15ull : static_cast<uint64_t>(seed);
  std::vector<uint32_t> a(static_cast<size_t>(n));
  for (auto& v : a) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v = static_cast<uint32_t>(x >> 32);
  }
  std::sort(a.begin(), a.end());
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint32_t v : a) {
    for (int i = 0; i < 4; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 0x100000001b3ull;
    }
  }
  return static_cast<int64_t>(h);
}

int64_t reference_fib(int64_t n) {
  uint64_t a = 0, b = 1;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t t = a + b;
    a = b;
    b = t;
  }
  return n <= 0 ? 0 : static_cast<int64_t>(a);
}

TEST_P(Examples, HelloPrintsThroughTheHostAndReturns42) {
  std::string out;
  auto s = make_sandbox("hello", &out, config());
  ASSERT_TRUE(s);
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "hello")), 42);
  EXPECT_EQ(out, "Hello from the hlrr guest!\n");
  out.clear();
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "greet", {std::string("world")})), 14);
  EXPECT_EQ(out, "Hello, world!\n");
}

TEST_P(Examples, ComputeMatchesAnIndependentReference) {
  std::string out;
  // A correctness test, not a timing one: the -O0 guest's sort_hash(100000), ~100M
  // instructions, can pass the default 10 s limit under ASan on a loaded 2-core machine.
  vmm::SandboxConfig c = config();
  c.timeout = std::chrono::minutes(2);
  auto s = make_sandbox("compute", &out, c);
  ASSERT_TRUE(s);
  const int64_t big = on_kvm() ? 2000 : 100000;
  for (auto [n, seed] :
       {std::pair<int64_t, int64_t>{0, 1}, {1, 1}, {1000, 7}, {big, 1}, {500, 0}}) {
    EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sort_hash", {n, seed})), reference_sort_hash(n, seed))
        << "sort_hash(" << n << ", " << seed << ")";
  }
  for (int64_t n : {0, 1, 2, 10, 90, 93, 200}) {
    EXPECT_EQ(std::get<int64_t>(call_ok(*s, "fib", {n})), reference_fib(n)) << "fib(" << n << ")";
  }
}

// The SDK's release profile (-O2 -g) builds and computes the same as the debug profile the
// examples use (-O0 -g3), in well under half the instructions.
TEST(GuestProfiles, ReleaseComputesTheSameInFewerInstructions) {
  uint64_t instructions[2] = {};
  const char* guests[2] = {"compute", "compute_release"};
  for (int i = 0; i < 2; ++i) {
    std::string out;
    vmm::SandboxConfig config;
    config.vcpu = vmm::VcpuKind::kUnicorn;
    auto s = make_sandbox(guests[i], &out, config);
    ASSERT_TRUE(s);
    const uint64_t before = s->vcpu().instruction_count();
    EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sort_hash", {int64_t{1000}, int64_t{7}})),
              reference_sort_hash(1000, 7))
        << guests[i];
    instructions[i] = s->vcpu().instruction_count() - before;
  }
  EXPECT_GT(instructions[1], 0u);
  EXPECT_LT(instructions[1] * 2, instructions[0]) << instructions[1] << " vs " << instructions[0];
}

TEST_P(Examples, ChattyMakesOneHostCallPerClockReadingAndPrint) {
  std::string out;
  vmm::SandboxConfig config = this->config();
  int64_t clock_calls = 0;
  config.host_functions.add("clock_ns", {{}, vmm::ValueType::kI64},
                            [&](std::span<const Value>) -> base::Expected<Value> {
                              return int64_t{1000} + clock_calls++;  // strictly increasing
                            });
  auto s = make_sandbox("chatty", &out, std::move(config));
  ASSERT_TRUE(s);
  const uint64_t exits_before = s->exit_count();
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "chatter", {int64_t{2500}})), 2503);
  EXPECT_EQ(clock_calls, 2500);
  EXPECT_EQ(out, "chatter: 1000/2500\nchatter: 2000/2500\nchatter: done, 2500 clock_ns calls\n");
  EXPECT_EQ(s->exit_count() - exits_before, 2503u + 1u);  // every host call, plus the final hlt
}

TEST_P(Examples, ChattyPanicsWhenTheHostClockGoesBackwards) {
  std::string out;
  vmm::SandboxConfig config = this->config();
  int64_t t = 100;
  config.host_functions.add(
      "clock_ns", {{}, vmm::ValueType::kI64},
      [&](std::span<const Value>) -> base::Expected<Value> { return t -= 1; });
  auto s = make_sandbox("chatty", &out, std::move(config));
  ASSERT_TRUE(s);
  const std::vector<Value> args = {int64_t{10}};
  auto r = s->call("chatter", args);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, vmm::FaultKind::kPanic);
  EXPECT_EQ(r.error().message, "chatter: the clock went backwards");
}

TEST_P(Examples, BuggyCorruptsItsCountWithTheSeventeenthSample) {
  std::string out;
  auto s = make_sandbox("buggy", &out, config());
  ASSERT_TRUE(s);
  int64_t sum = 0;
  for (int64_t i = 1; i <= 16; ++i) {
    EXPECT_EQ(std::get<int64_t>(call_ok(*s, "add_sample", {i * 10})), i);
    sum += i * 10;
  }
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "mean")), sum / 16);  // state kept across calls
  // The off-by-one: sample 17 is stored into `count` itself (after the increment), so the count
  // becomes the sample value and the mean divides the 16 real samples by it: the wrong result
  // depends on what the host supplied.
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "add_sample", {int64_t{1000}})), 17);
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sample_count")), 1000);
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "mean")), sum / 1000);
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "add_sample", {int64_t{5}})), -1);  // "full" from now on
  call_ok(*s, "reset");
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sample_count")), 0);
}

TEST_P(Examples, AThousandCallsOnOneSandbox) {
  std::string out;
  auto s = make_sandbox("compute", &out, config());
  ASSERT_TRUE(s);
  for (int64_t i = 0; i < 1000; ++i) {
    const int64_t n = i % (on_kvm() ? 20 : 95);
    ASSERT_EQ(std::get<int64_t>(call_ok(*s, "fib", {n})), reference_fib(n)) << "call " << i;
  }
}

TEST_P(Examples, UnknownFunctionsAndWrongArgumentsAreGuestErrors) {
  std::string out;
  auto s = make_sandbox("hello", &out, config());
  ASSERT_TRUE(s);
  auto r = s->call("nosuch");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, vmm::FaultKind::kGuestError);
  EXPECT_EQ(r.error().to_string(), "guest error: no guest function named 'nosuch'");
  const std::vector<Value> wrong = {int64_t{5}};
  r = s->call("greet", wrong);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, vmm::FaultKind::kGuestError);
  EXPECT_NE(r.error().message.find("greet"), std::string::npos) << r.error().message;
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "hello")), 42);  // and the sandbox goes on
}

TEST_P(Snapshot, RestoreReturnsTheGuestToItsInitialState) {
  std::string out;
  auto s = make_sandbox("buggy", &out, config());
  ASSERT_TRUE(s);
  const vmm::Snapshot clean = s->snapshot();
  const std::vector<uint8_t> clean_memory(s->memory().host_base(),
                                          s->memory().host_base() + s->memory().size());
  for (int64_t i = 0; i < 20; ++i) call_ok(*s, "add_sample", {100 + i});
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sample_count")), 116);  // corrupted by sample 17
  ASSERT_TRUE(s->restore(clean).has_value());
  EXPECT_EQ(0, std::memcmp(clean_memory.data(), s->memory().host_base(), clean_memory.size()));
  EXPECT_EQ(*s->vcpu().registers(), clean.registers());
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sample_count")), 0);
  // A pool: every call starts from the same clean state.
  for (int round = 0; round < 50; ++round) {
    ASSERT_TRUE(s->restore(clean).has_value());
    EXPECT_EQ(std::get<int64_t>(call_ok(*s, "add_sample", {int64_t{round}})), 1)
        << "round " << round;
  }
}

TEST_P(Snapshot, RestoringAnOlderSnapshotCopiesAllOfMemory) {
  std::string out;
  auto s = make_sandbox("buggy", &out, config());
  ASSERT_TRUE(s);
  const vmm::Snapshot empty = s->snapshot();
  call_ok(*s, "add_sample", {int64_t{5}});
  const vmm::Snapshot one = s->snapshot();
  call_ok(*s, "add_sample", {int64_t{6}});
  ASSERT_TRUE(s->restore(empty).has_value());
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sample_count")), 0);
  ASSERT_TRUE(s->restore(one).has_value());
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "sample_count")), 1);
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "mean")), 5);
}

}  // namespace
}  // namespace hlrr::testing
