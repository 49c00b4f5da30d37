// Every way a guest call can go wrong: the right fault kind, the exact faulting instruction
// (decoded at the reported RIP and located in the ELF's symbol table), the address where there
// is one, and a sandbox that is still usable afterwards.
#include <capstone/capstone.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "hl_abi.h"
#include "tests/integration/guests.h"

namespace hlrr::testing {
namespace {

using vmm::FaultKind;
using vmm::Value;

struct FaultCase {
  const char* function;
  std::vector<Value> args;
  FaultKind kind;
  const char* symbol;       // the function the RIP must fall in
  const char* instruction;  // mnemonic of the instruction at RIP (for `out`: just before it)
  bool has_address;
  uint64_t address_begin, address_end;  // [begin, end) when has_address
};

std::string mnemonic_at(vmm::Sandbox& s, uint64_t rip) {
  uint8_t bytes[16] = {};
  if (!s.memory().read(rip, bytes).has_value()) return "<unreadable>";
  csh cs;
  cs_open(CS_ARCH_X86, CS_MODE_64, &cs);
  cs_insn* insn = nullptr;
  std::string m = "<undecodable>";
  if (cs_disasm(cs, bytes, sizeof bytes, rip, 1, &insn) == 1) m = insn[0].mnemonic;
  if (insn) cs_free(insn, 1);
  cs_close(&cs);
  return m;
}

class FaultsTest : public ::testing::TestWithParam<std::tuple<vmm::VcpuKind, FaultCase>> {
 protected:
  void SetUp() override {
    if (std::get<0>(GetParam()) != vmm::VcpuKind::kKvm) return;
    if (auto usable = vmm::KvmVcpu::available(); !usable) {
      GTEST_SKIP() << "KVM not usable here: " << usable.error().message;
    }
  }
};

TEST_P(FaultsTest, ReportsKindInstructionAndAddress) {
  const FaultCase& c = std::get<1>(GetParam());
  std::string out;
  vmm::SandboxConfig config;
  config.vcpu = std::get<0>(GetParam());
  auto s = make_sandbox("faults", &out, std::move(config));
  ASSERT_TRUE(s);
  const vmm::Snapshot clean = s->snapshot();
  auto r = s->call(c.function, c.args);
  ASSERT_FALSE(r.has_value()) << c.function << " returned " << vmm::to_string(*r);
  const vmm::Fault& f = r.error();
  EXPECT_EQ(f.kind, c.kind) << f.to_string();
  const vmm::Symbol* sym = s->image().symbols().find_containing(f.rip);
  ASSERT_NE(sym, nullptr) << f.to_string();
  EXPECT_EQ(sym->name, c.symbol) << f.to_string();
  EXPECT_EQ(f.symbol.rfind(c.symbol, 0), 0u) << f.symbol;
  // Exceptions stop at the faulting instruction; a port-I/O request (host call, panic) has
  // executed, so RIP is just after its one-byte `out dx, al`.
  const bool after_out = std::string(c.instruction) == "out";
  EXPECT_EQ(mnemonic_at(*s, after_out ? f.rip - 1 : f.rip), c.instruction) << f.to_string();
  EXPECT_EQ(f.has_address, c.has_address) << f.to_string();
  if (c.has_address) {
    EXPECT_GE(f.address, c.address_begin) << f.to_string();
    EXPECT_LT(f.address, c.address_end) << f.to_string();
  }
  // The host is unharmed and the sandbox serves the next call from a clean state.
  ASSERT_TRUE(s->restore(clean).has_value());
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "still_alive")), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FaultsTest,
    ::testing::Combine(
        ::testing::Values(vmm::VcpuKind::kUnicorn, vmm::VcpuKind::kKvm),
        ::testing::Values(
            FaultCase{"null_deref", {}, FaultKind::kPageFault, "null_deref", "mov", true, 0, 1},
            FaultCase{"undefined_instruction",
                      {},
                      FaultKind::kInvalidOpcode,
                      "undefined_instruction",
                      "ud2",
                      false},
            FaultCase{"divide_by_zero",
                      {int64_t{0}},
                      FaultKind::kDivideError,
                      "divide_by_zero",
                      "idiv",
                      false},
            FaultCase{"stack_overflow",
                      {int64_t{0}},
                      FaultKind::kPageFault,
                      "stack_overflow_recurse",
                      "mov",
                      true,
                      HL_STACK_GUARD,
                      HL_STACK_GUARD + HL_PAGE_SIZE},
            FaultCase{"general_protection",
                      {},
                      FaultKind::kGeneralProtection,
                      "general_protection",
                      "mov",
                      false},
            FaultCase{"out_of_bounds",
                      {},
                      FaultKind::kOutOfBounds,
                      "out_of_bounds",
                      "mov",
                      true,
                      0x80000000,
                      0x80000001},
            FaultCase{"wild_pointer", {}, FaultKind::kBadHostCall, "hl_call_host", "out", false},
            FaultCase{"panic", {}, FaultKind::kPanic, "hl_panic", "out", false})),
    [](const auto& info) {
      return std::string(vmm::to_string(std::get<0>(info.param))) + "_" +
             std::get<1>(info.param).function;
    });

class Faults : public BackendTest {};
HLRR_INSTANTIATE_FOR_BACKENDS(Faults);

TEST_P(Faults, WildPointerIsRefusedNamingThePointer) {
  std::string out;
  auto s = make_sandbox("faults", &out, config());
  ASSERT_TRUE(s);
  auto r = s->call("wild_pointer");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message,
            "host call: argument 0 (string at 0xdead0000, 16 bytes) is outside guest memory");
  EXPECT_EQ(out, "");  // print never ran
}

TEST_P(Faults, PanicCarriesTheMessage) {
  std::string out;
  auto s = make_sandbox("faults", &out, config());
  ASSERT_TRUE(s);
  auto r = s->call("panic");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "something went wrong");
}

TEST_P(Faults, TimeoutStopsAnInfiniteLoopWithinTheLimit) {
  std::string out;
  vmm::SandboxConfig config = this->config();
  config.timeout = std::chrono::milliseconds(200);
  auto s = make_sandbox("faults", &out, std::move(config));
  ASSERT_TRUE(s);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = s->call("infinite_loop");
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, FaultKind::kTimeout);
  EXPECT_GE(elapsed, std::chrono::milliseconds(200));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1200));
  EXPECT_EQ(s->image().symbols().find_containing(r.error().rip)->name, "infinite_loop");
  // The watchdog is disarmed: a following quick call is not cut short.
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "still_alive")), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_EQ(std::get<int64_t>(call_ok(*s, "still_alive")), 1);
}

}  // namespace
}  // namespace hlrr::testing
