// x87 state as gdb and lldb show it (issue 10, item 5), live and in replay: st0..st7 counted from
// the top of the stack, fstat with TOP, the full tag word, and the last instruction's opcode and
// pointers (fop, fioff, fooff), on fpu.elf's x87_stack.
#include "tests/integration/live_debug.h"
#include "tests/replay/replay_test_util.h"
#include "vmm/backend_choice.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

uint64_t fpu_symbol(const std::string& name) {
  auto image = vmm::ElfImage::read_file(guest_path("fpu"));
  if (!image) return 0;
  return image->symbols().address_of(name).value_or(0);
}

// What x87_stack returns: pi as a double's bits.
constexpr const char* kResult = "result: 4614256656552045848\n";

// gdb stops after `fld1; fldpi; fldz` (x87_loaded), then after `fstpl g_out(%rip)` (x87_stored).
const std::vector<std::string> kCommands = {
    "break *x87_loaded", "break *x87_stored", "continue",      "print $st0",   "print $st1",
    "print $st2",        "print/x $fstat",    "print/x $ftag", "info float",   "print/x $fop",
    "print/x $fioff",    "print/x $fiseg",    "continue",      "print/x $fop", "print/x $fioff",
    "print/x $fooff",    "print/x $foseg",    "print $st0"};

// `pointers`: fop/fioff/fooff are compared too (the software vCPU; hardware may update them
// only on an unmasked exception).
void expect_x87_state(const std::string& out, bool pointers) {
  EXPECT_CONTAINS(out, "$1 = 0\n");                  // st0: fldz
  EXPECT_CONTAINS(out, "$2 = 3.14159265358979323");  // st1: fldpi
  EXPECT_CONTAINS(out, "$3 = 1\n");                  // st2: fld1
  EXPECT_CONTAINS(out, "$4 = 0x2800\n");             // TOP = 5
  EXPECT_CONTAINS(out, "$5 = 0x7ff\n");              // R5 zero, R6/R7 valid, R0-R4 empty
  EXPECT_CONTAINS(out, "=>R5: Zero    0x00000000000000000000 +0 ");
  EXPECT_CONTAINS(out, "  R6: Valid   0x4000c90fdaa22168c235 +3.141592653589793239 ");
  EXPECT_CONTAINS(out, "  R7: Valid   0x3fff8000000000000000 +1 ");
  EXPECT_CONTAINS(out, "TOP: 5\n");
  EXPECT_CONTAINS(out, "$13 = 1\n");  // after the two pops, st0 is the 1 again
  if (!pointers) return;
  EXPECT_CONTAINS(out, "Opcode:              0xd9ee\n");  // gdb ORs in 0xd800
  EXPECT_CONTAINS(out, "$6 = 0x1ee\n");                   // fldz: D9 EE
  EXPECT_CONTAINS(out, "$7 = " + hex_address(fpu_symbol("x87_fldz")) + "\n");
  EXPECT_CONTAINS(out, "$8 = 0x0\n");
  EXPECT_CONTAINS(out, "$9 = 0x51d\n");  // fstpl m64, RIP-relative: DD 1D
  EXPECT_CONTAINS(out, "$10 = " + hex_address(fpu_symbol("x87_store")) + "\n");
  // fooff: g_out; foseg (the high half) is 0 for a guest under 4 GiB.
  EXPECT_CONTAINS(out, "$11 = " + hex_address(fpu_symbol("g_out")) + "\n");
  EXPECT_CONTAINS(out, "$12 = 0x0\n");
}

// On a KVM that cannot execute x87/SSE (the workplace's), hlrun refuses fpu.elf with one line
// before it runs (SseGuest.ExplicitKvmThatCannotRunItIsOneLineError).
class LiveX87 : public GdbBackendTest {
 protected:
  void SetUp() override {
    GdbBackendTest::SetUp();
    if (IsSkipped() || GetParam() != vmm::VcpuKind::kKvm) return;
    if (!vmm::probe_kvm().executes_sse) GTEST_SKIP() << "this KVM cannot execute x87/SSE";
  }
};

TEST_P(LiveX87, GdbShowsTheStackTopTagsAndLastInstruction) {
  ASSERT_NE(fpu_symbol("x87_fldz"), 0u);
  DebuggedHlrun hlrun(backend(), "fpu", "x87_stack");
  ASSERT_NE(hlrun.port(), 0);
  std::vector<std::string> commands = kCommands;
  commands.push_back("continue");
  const std::string out = gdb_session("fpu", hlrun.port(), commands);
  expect_x87_state(out, GetParam() == vmm::VcpuKind::kUnicorn);
  EXPECT_CONTAINS(out, "exited normally");
  EXPECT_CONTAINS(hlrun.finish(), kResult);
}

TEST_P(LiveX87, LldbShowsTheStackTop) {
  if (!have_tool("lldb")) GTEST_SKIP() << "lldb is not installed";
  DebuggedHlrun hlrun(backend(), "fpu", "x87_stack");
  ASSERT_NE(hlrun.port(), 0);
  const std::string out = lldb_session(
      "lldb", "fpu", hlrun.port(),
      {"breakpoint set -a " + hex_address(fpu_symbol("x87_loaded")), "continue",
       "register read st0", "register read st1", "register read st2", "register read fstat",
       "register read ftag", "register read fop", "register read fioff", "continue"});
  EXPECT_CONTAINS(out, "st0 = {0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00}");
  EXPECT_CONTAINS(out, "st1 = {0x35 0xc2 0x68 0x21 0xa2 0xda 0x0f 0xc9 0x00 0x40}");
  EXPECT_CONTAINS(out, "st2 = {0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x80 0xff 0x3f}");
  EXPECT_CONTAINS(out, "fstat = 0x00002800");
  EXPECT_CONTAINS(out, "ftag = 0x000007ff");
  if (GetParam() == vmm::VcpuKind::kUnicorn) {
    EXPECT_CONTAINS(out, "fop = 0x000001ee");
    char fioff[32];
    std::snprintf(fioff, sizeof fioff, "fioff = 0x%08llx",
                  static_cast<unsigned long long>(fpu_symbol("x87_fldz")));
    EXPECT_CONTAINS(out, fioff);
  }
  EXPECT_CONTAINS(hlrun.finish(), kResult);
}

HLRR_INSTANTIATE_FOR_BACKENDS(LiveX87);

class ReplayX87 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  }
  TempDir dir_;
};

// The same on a replay, then back to x87_loaded with reverse-continue: the restored state
// carries fop and fioff again.
TEST_F(ReplayX87, GdbShowsTheStackTopTagsAndLastInstructionForwardAndReverse) {
  const std::string trace = dir_.path("fpu.cap");
  ASSERT_TRUE(record_guest("fpu", {{"x87_stack", {}}}, trace));
  BackgroundServer server("timeout 120 " + tool_path("hlreplay") + " " + trace + " -g 0");
  ASSERT_NE(server.port(), 0);
  std::vector<std::string> commands = kCommands;
  for (const char* c : {"reverse-continue", "print/x $fop", "print/x $fioff", "print $st1"}) {
    commands.push_back(c);
  }
  const std::string out = gdb_session("fpu", server.port(), commands);
  expect_x87_state(out, true);
  EXPECT_CONTAINS(out, "$14 = 0x1ee\n");
  EXPECT_CONTAINS(out, "$15 = " + hex_address(fpu_symbol("x87_fldz")) + "\n");
  EXPECT_CONTAINS(out, "$16 = 3.14159265358979323");
}

}  // namespace
}  // namespace hlrr::testing
