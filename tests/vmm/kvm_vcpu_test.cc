// KvmVcpu against the software vCPU: tiny guest programs (machine code at 0x100000 in 4 MiB of
// guest memory with hlrr's page and descriptor tables) run on both backends. Each test asserts
// the values it expects on the backend under test and, for KVM, that every exit and register
// file equals the software vCPU's for the same program. KVM cases are skipped, with the reason,
// where /dev/kvm is unusable.
#include "vmm/kvm_vcpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "hl_abi.h"
#include "vmm/code_scan.h"
#include "vmm/cpu_model.h"
#include "vmm/guest_memory.h"
#include "vmm/long_mode.h"
#include "vmm/unicorn_vcpu.h"
#include "vmm/vcpu_factory.h"

namespace hlrr::vmm {
namespace {

constexpr uint64_t kCode = HL_IMAGE_BASE;  // 0x100000
constexpr uint64_t kMemorySize = 4ull << 20;
// Flags the architecture leaves undefined after some instructions (AF after shifts, ...).
constexpr uint64_t kDefinedFlags = ~uint64_t{0x10};

// Machine code, assembled with GNU as (intel syntax), the source in each comment.
// mov eax, 0xdeadbeef; mov dx, 0x6c00; out dx, eax; mov al, 0x42; out 0x80, al; hlt
constexpr uint8_t kOutHlt[] = {0xb8, 0xef, 0xbe, 0xad, 0xde, 0x66, 0xba, 0x00,
                               0x6c, 0xef, 0xb0, 0x42, 0xe6, 0x80, 0xf4};
// mov rax, 0x1111222233334444; mov dx, 0x6c00; in al, dx; in eax, dx; hlt
constexpr uint8_t kInHlt[] = {0x48, 0xb8, 0x44, 0x44, 0x33, 0x33, 0x22, 0x22, 0x11,
                              0x11, 0x66, 0xba, 0x00, 0x6c, 0xec, 0xed, 0xf4};
// mov ecx, 10; xor eax, eax; 1: add rax, rcx; lea rsi, [rsi + rax*2]; sub rdi, rcx; dec rcx;
// jnz 1b; mov rbx, rax; shl rbx, 3; push rbx; pop r8; xor r9, r8; hlt
constexpr uint8_t kArith[] = {0xb9, 0x0a, 0x00, 0x00, 0x00, 0x31, 0xc0, 0x48, 0x01,
                              0xc8, 0x48, 0x8d, 0x34, 0x46, 0x48, 0x29, 0xcf, 0x48,
                              0xff, 0xc9, 0x75, 0xf1, 0x48, 0x89, 0xc3, 0x48, 0xc1,
                              0xe3, 0x03, 0x53, 0x41, 0x58, 0x4d, 0x31, 0xc1, 0xf4};
// mov rax, [0]
constexpr uint8_t kNullRead[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00};
// mov [8], rax
constexpr uint8_t kNullWrite[] = {0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00};
// ud2
constexpr uint8_t kUd2[] = {0x0f, 0x0b};
// xor ecx, ecx; mov eax, 1; xor edx, edx; div ecx
constexpr uint8_t kDivZero[] = {0x31, 0xc9, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xd2, 0xf7, 0xf1};
// movabs rax, 0x8000000000000000; mov rbx, [rax]
constexpr uint8_t kNonCanonical[] = {0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x80, 0x48, 0x8b, 0x18};
// mov eax, 0x80000000; mov rbx, [rax]
constexpr uint8_t kOutOfBounds[] = {0xb8, 0x00, 0x00, 0x00, 0x80, 0x48, 0x8b, 0x18};
// push rax; push rax; push rax
constexpr uint8_t kStackOverflow[] = {0x50, 0x50, 0x50};
// xor eax, eax; jmp rax
constexpr uint8_t kJumpToZero[] = {0x31, 0xc0, 0xff, 0xe0};
// 1: jmp 1b
constexpr uint8_t kSpin[] = {0xeb, 0xfe};
// mov eax, 1; add eax, 2; nop; hlt
constexpr uint8_t kSteps[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0x83, 0xc0, 0x02, 0x90, 0xf4};
// cpuid; hlt
constexpr uint8_t kCpuid[] = {0x0f, 0xa2, 0xf4};
// mov byte ptr [0x200000], 1; mov qword ptr [0x201008], rax; mov dword ptr [0x3ff000], 7; hlt
constexpr uint8_t kDirty[] = {0xc6, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x01, 0x48, 0x89,
                              0x04, 0x25, 0x08, 0x10, 0x20, 0x00, 0xc7, 0x04, 0x25, 0x00,
                              0xf0, 0x3f, 0x00, 0x07, 0x00, 0x00, 0x00, 0xf4};
// addps xmm0, xmm1; hlt
constexpr uint8_t kAddps[] = {0x0f, 0x58, 0xc1, 0xf4};

// One guest: its memory and a vCPU of one backend, at a stable address (the vCPU refers to the
// memory).
struct Machine {
  GuestMemory memory;
  std::unique_ptr<Vcpu> vcpu;
  KvmVcpu* kvm = nullptr;  // inside `vcpu`, composed with its software fallback as the factory does
};

std::unique_ptr<Machine> boot(const std::string& backend, std::span<const uint8_t> code,
                              const std::function<void(RegisterFile&)>& setup = {},
                              bool emulate_cpuid = true) {
  auto memory = GuestMemory::create(kMemorySize);
  EXPECT_TRUE(memory.has_value());
  if (!memory) return nullptr;
  auto machine = std::make_unique<Machine>(Machine{std::move(*memory), nullptr});
  EXPECT_TRUE(write_page_tables(machine->memory).has_value());
  EXPECT_TRUE(write_descriptor_tables(machine->memory).has_value());
  EXPECT_TRUE(machine->memory.write(kCode, code).has_value());
  const CodeRange range{kCode, code};
  bool uses_fpu = false;
  std::vector<InstructionSite> sites = scan_code(std::span(&range, 1), &uses_fpu);
  if (backend == "kvm") {
    auto vcpu = KvmVcpu::create(machine->memory, sites);
    EXPECT_TRUE(vcpu.has_value()) << (vcpu ? "" : vcpu.error().message);
    if (!vcpu) return nullptr;
    (*vcpu)->set_fpu_static(!uses_fpu);  // as the vCPU factory does for a guest image
    // Where KVM refuses the CPUID table, `cpuid` is emulated at its sites, as a sandbox would
    // do with the sites of its code scan (here: the 0F A2 byte pairs of these tiny programs).
    if (emulate_cpuid && !(*vcpu)->cpuid_matches_model()) {
      std::vector<uint64_t> cpuid_sites;
      for (size_t i = 0; i + 1 < code.size(); ++i) {
        if (code[i] == 0x0F && code[i + 1] == 0xA2) cpuid_sites.push_back(kCode + i);
      }
      EXPECT_TRUE((*vcpu)->emulate_cpuid_at(cpuid_sites).has_value());
    }
    machine->kvm = vcpu->get();
    machine->vcpu = with_software_fallback(std::move(*vcpu), machine->memory, std::move(sites));
  } else {
    auto vcpu = UnicornVcpu::create(machine->memory, std::move(sites));
    EXPECT_TRUE(vcpu.has_value()) << (vcpu ? "" : vcpu.error().message);
    if (!vcpu) return nullptr;
    machine->vcpu = std::move(*vcpu);
  }
  RegisterFile regs = initial_registers(kCode);
  if (setup) setup(regs);
  EXPECT_TRUE(machine->vcpu->set_registers(regs).has_value());
  return machine;
}

// What one run() showed: the exit and the register file right after it.
struct Observation {
  VcpuExit exit;
  RegisterFile regs;
};

Observation observe(Machine& m, const RunOptions& options = {}) {
  Observation o;
  o.exit = m.vcpu->run(options);
  auto regs = m.vcpu->registers();
  EXPECT_TRUE(regs.has_value());
  if (regs) o.regs = *regs;
  return o;
}

// A scenario drives one machine and returns what it observed at each exit.
using Scenario = std::function<std::vector<Observation>(const std::string& backend)>;

std::vector<Observation> run_to_exits(const std::string& backend, std::span<const uint8_t> code,
                                      int exits,
                                      const std::function<void(RegisterFile&)>& setup = {},
                                      const RunOptions& options = {}) {
  std::vector<Observation> out;
  auto m = boot(backend, code, setup);
  if (!m) return out;
  for (int i = 0; i < exits; ++i) out.push_back(observe(*m, options));
  return out;
}

void expect_same(const std::vector<Observation>& reference, const std::vector<Observation>& kvm,
                 uint64_t rflags_mask) {
  ASSERT_EQ(reference.size(), kvm.size());
  for (size_t i = 0; i < reference.size(); ++i) {
    SCOPED_TRACE("exit #" + std::to_string(i));
    const VcpuExit& a = reference[i].exit;
    const VcpuExit& b = kvm[i].exit;
    EXPECT_STREQ(to_string(a.kind), to_string(b.kind)) << b.detail;
    EXPECT_EQ(a.port, b.port);
    EXPECT_EQ(a.size, b.size);
    EXPECT_EQ(a.data, b.data);
    EXPECT_EQ(a.vector, b.vector);
    EXPECT_EQ(a.error_code, b.error_code);
    EXPECT_EQ(a.has_address, b.has_address);
    EXPECT_EQ(a.address, b.address);
    EXPECT_EQ(first_difference(reference[i].regs, kvm[i].regs, rflags_mask, false), std::nullopt);
  }
}

class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kvm") {
      if (auto st = KvmVcpu::available(); !st)
        GTEST_SKIP() << "KVM unusable: " << st.error().message;
    }
  }
  bool is_kvm() const { return GetParam() == "kvm"; }

  // Runs `scenario` on the backend under test; on KVM also on the software vCPU, and compares.
  std::vector<Observation> run_and_compare(const Scenario& scenario,
                                           uint64_t rflags_mask = ~uint64_t{0}) {
    std::vector<Observation> observed = scenario(GetParam());
    if (is_kvm()) expect_same(scenario("unicorn"), observed, rflags_mask);
    return observed;
  }
  std::vector<Observation> run_and_compare(std::span<const uint8_t> code, int exits,
                                           const std::function<void(RegisterFile&)>& setup = {},
                                           uint64_t rflags_mask = ~uint64_t{0}) {
    return run_and_compare(
        [&](const std::string& backend) { return run_to_exits(backend, code, exits, setup); },
        rflags_mask);
  }
};

// hlt
constexpr uint8_t kHlt[] = {0xf4};

TEST_P(BackendTest, RegistersRoundTripThroughARun) {
  RegisterFile set = initial_registers(kCode);
  set.rax = 0x0123456789abcdef, set.rbx = 2, set.rcx = 3, set.rdx = 4, set.rsi = 5;
  set.rdi = 6, set.rbp = 7, set.r8 = 8, set.r9 = 9, set.r10 = 10, set.r11 = 11, set.r12 = 12;
  set.r13 = 13, set.r14 = 14, set.r15 = 0xffffffffffffffff;
  set.rflags = 0x2 | 0x1 | 0x40 | 0x800;  // CF ZF OF
  set.fs_base = 0x7000, set.gs_base = 0x8000;
  set.fcw = 0x27F;
  // Full tag word, as both backends report it: all empty. (initial_registers()' 0 means "all
  // valid", which both read back as 0x5555: zero-valued registers.)
  set.ftw = 0xFFFF;
  set.mxcsr = 0x9FC0;
  for (int i = 0; i < 16; ++i) set.xmm[i].fill(static_cast<uint8_t>(0x10 + i));
  auto m = boot(GetParam(), kHlt, [&](RegisterFile& r) { r = set; });
  ASSERT_TRUE(m);
  auto before = m->vcpu->registers();
  ASSERT_TRUE(before);
  EXPECT_EQ(first_difference(set, *before), std::nullopt);
  EXPECT_EQ(m->vcpu->run({}).kind, ExitKind::kHalt);
  auto after = m->vcpu->registers();
  ASSERT_TRUE(after);
  set.rip = kCode + 1;
  EXPECT_EQ(first_difference(set, *after), std::nullopt);
  // Changing only the SSE state afterwards is seen too.
  set.xmm[3].fill(0xEE);
  ASSERT_TRUE(m->vcpu->set_registers(set));
  auto changed = m->vcpu->registers();
  ASSERT_TRUE(changed);
  EXPECT_EQ(first_difference(set, *changed), std::nullopt);
}

TEST_P(BackendTest, OutThenHalt) {
  auto obs = run_and_compare(kOutHlt, 3);
  ASSERT_EQ(obs.size(), 3u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kIoOut);
  EXPECT_EQ(obs[0].exit.port, HL_PORT_HOST_CALL);
  EXPECT_EQ(obs[0].exit.size, 4);
  EXPECT_EQ(obs[0].exit.data, 0xdeadbeefu);
  EXPECT_EQ(obs[0].regs.rip, kCode + 10);  // after `out dx, eax`
  EXPECT_EQ(obs[1].exit.kind, ExitKind::kIoOut);
  EXPECT_EQ(obs[1].exit.port, 0x80);
  EXPECT_EQ(obs[1].exit.size, 1);
  EXPECT_EQ(obs[1].exit.data, 0x42u);
  EXPECT_EQ(obs[1].regs.rip, kCode + 14);
  EXPECT_EQ(obs[2].exit.kind, ExitKind::kHalt);
  EXPECT_EQ(obs[2].regs.rip, kCode + 15);  // after `hlt`
}

// mov dx, 0x6c00; mov esi, 0x200000; outsb; hlt
constexpr uint8_t kOutsb[] = {0x66, 0xba, 0x00, 0x6c, 0xbe, 0x00, 0x00, 0x20, 0x00, 0x6e, 0xf4};

TEST_P(BackendTest, StringPortIoIsRefusedByName) {
  auto obs = run_to_exits(GetParam(), kOutsb, 1);
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kUnsupported);
  EXPECT_NE(obs[0].exit.detail.find("` at 0x100009 is not supported"), std::string::npos)
      << obs[0].exit.detail;
  EXPECT_NE(obs[0].exit.detail.find("outsb"), std::string::npos) << obs[0].exit.detail;
}

TEST_P(BackendTest, InCompletedBySetIoInResult) {
  auto scenario = [](const std::string& backend) {
    std::vector<Observation> out;
    auto m = boot(backend, kInHlt);
    if (!m) return out;
    out.push_back(observe(*m));  // in al, dx
    m->vcpu->set_io_in_result(0xAB);
    out.push_back(observe(*m));  // in eax, dx
    m->vcpu->set_io_in_result(0x12345678);
    out.push_back(observe(*m));  // hlt
    return out;
  };
  auto obs = run_and_compare(scenario);
  ASSERT_EQ(obs.size(), 3u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kIoIn);
  EXPECT_EQ(obs[0].exit.port, HL_PORT_HOST_CALL);
  EXPECT_EQ(obs[0].exit.size, 1);
  EXPECT_EQ(obs[0].regs.rip, kCode + 15);
  EXPECT_EQ(obs[0].regs.rax, 0x1111222233334444u);  // untouched until set_io_in_result
  EXPECT_EQ(obs[1].exit.kind, ExitKind::kIoIn);
  EXPECT_EQ(obs[1].exit.size, 4);
  EXPECT_EQ(obs[1].regs.rax, 0x11112222333344ABu);
  EXPECT_EQ(obs[1].regs.rip, kCode + 16);
  EXPECT_EQ(obs[2].exit.kind, ExitKind::kHalt);
  EXPECT_EQ(obs[2].regs.rax, 0x12345678u);  // a 32-bit `in` zero-extends
}

TEST_P(BackendTest, ArithmeticLoopRegistersIdentical) {
  auto obs = run_and_compare(
      kArith, 1, [](RegisterFile& r) { r.rsi = 3, r.rdi = 1000, r.r9 = 0x5555; }, kDefinedFlags);
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kHalt);
  EXPECT_EQ(obs[0].regs.rax, 55u);
  EXPECT_EQ(obs[0].regs.rbx, 440u);
  EXPECT_EQ(obs[0].regs.r8, 440u);
  EXPECT_EQ(obs[0].regs.r9, 0x5555u ^ 440u);
  EXPECT_EQ(obs[0].regs.rdi, 1000u - 55u);
  EXPECT_EQ(obs[0].regs.rcx, 0u);
  EXPECT_EQ(obs[0].regs.rsp, HL_STACK_TOP);
  EXPECT_EQ(obs[0].regs.rip, kCode + sizeof kArith);
}

struct FaultCase {
  const char* name;
  std::span<const uint8_t> code;
  uint8_t vector;
  uint32_t error_code;
  bool has_address;
  uint64_t address;
  uint64_t rip;
  uint64_t rsp = HL_STACK_TOP;
};

TEST_P(BackendTest, FaultsMatchTheSoftwareVcpu) {
  const FaultCase cases[] = {
      {"null read", kNullRead, kPageFault, 0, true, 0, kCode},
      {"null write", kNullWrite, kPageFault, 2, true, 8, kCode},
      {"ud2", kUd2, kInvalidOpcode, 0, false, 0, kCode},
      {"divide by zero", kDivZero, kDivideError, 0, false, 0, kCode + 9},
      {"non-canonical read", kNonCanonical, kGeneralProtection, 0, false, 0, kCode + 10},
      {"jump to 0", kJumpToZero, kPageFault, 0, true, 0, 0},
  };
  for (const FaultCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto obs = run_and_compare(c.code, 1);
    ASSERT_EQ(obs.size(), 1u);
    EXPECT_EQ(obs[0].exit.kind, ExitKind::kException) << obs[0].exit.detail;
    EXPECT_EQ(obs[0].exit.vector, c.vector);
    EXPECT_EQ(obs[0].exit.error_code, c.error_code);
    EXPECT_EQ(obs[0].exit.has_address, c.has_address);
    EXPECT_EQ(obs[0].exit.address, c.address);
    EXPECT_EQ(obs[0].regs.rip, c.rip);
    EXPECT_EQ(obs[0].regs.rsp, c.rsp);
  }
}

TEST_P(BackendTest, StackOverflowIntoGuardPageIsAPageFault) {
  const uint64_t rsp = HL_STACK_GUARD + HL_PAGE_SIZE + 8;
  auto obs = run_and_compare(kStackOverflow, 1, [&](RegisterFile& r) { r.rsp = rsp; });
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kException) << obs[0].exit.detail;
  EXPECT_EQ(obs[0].exit.vector, kPageFault);
  EXPECT_EQ(obs[0].exit.error_code, 2u);
  EXPECT_TRUE(obs[0].exit.has_address);
  EXPECT_EQ(obs[0].exit.address, HL_STACK_GUARD + HL_PAGE_SIZE - 8);
  EXPECT_EQ(obs[0].regs.rip, kCode + 1);  // the second push
  EXPECT_EQ(obs[0].regs.rsp, rsp - 8);
}

TEST_P(BackendTest, ReadBeyondGuestMemoryIsOutOfBounds) {
  auto obs = run_and_compare(kOutOfBounds, 1);
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kOutOfBounds) << obs[0].exit.detail;
  EXPECT_TRUE(obs[0].exit.has_address);
  EXPECT_EQ(obs[0].exit.address, 0x80000000u);
  EXPECT_EQ(obs[0].regs.rip, kCode + 5);
  EXPECT_EQ(obs[0].regs.rbx, 0u);
}

// mov eax, 0x80000000; mov [rax], ebx; hlt
constexpr uint8_t kOutOfBoundsWrite[] = {0xb8, 0x00, 0x00, 0x00, 0x80, 0x89, 0x18, 0xf4};
// mov eax, 0x7ffffff8; mov [rax+8], rbx; hlt  (the store's tail `89 58 08` also decodes)
constexpr uint8_t kOutOfBoundsRexWrite[] = {0xb8, 0xf8, 0xff, 0xff, 0x7f,
                                            0x48, 0x89, 0x58, 0x08, 0xf4};

TEST_P(BackendTest, WriteBeyondGuestMemoryIsOutOfBounds) {
  for (std::span<const uint8_t> code : {std::span<const uint8_t>(kOutOfBoundsWrite),
                                        std::span<const uint8_t>(kOutOfBoundsRexWrite)}) {
    SCOPED_TRACE(code.size());
    auto obs = run_and_compare(code, 1, [](RegisterFile& r) { r.rbx = 0x1234; });
    ASSERT_EQ(obs.size(), 1u);
    EXPECT_EQ(obs[0].exit.kind, ExitKind::kOutOfBounds) << obs[0].exit.detail;
    EXPECT_TRUE(obs[0].exit.has_address);
    EXPECT_EQ(obs[0].exit.address, 0x80000000u);
    EXPECT_EQ(obs[0].regs.rip, kCode + 5);  // the store, not past it
  }
}

TEST_P(BackendTest, RequestStopEndsAnInfiniteLoop) {
  auto m = boot(GetParam(), kSpin);
  ASSERT_TRUE(m);
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    m->vcpu->request_stop();
  });
  const VcpuExit exit = m->vcpu->run({});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  stopper.join();
  EXPECT_EQ(exit.kind, ExitKind::kStopped) << exit.detail;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_GE(elapsed, std::chrono::milliseconds(50));
  auto regs = m->vcpu->registers();
  ASSERT_TRUE(regs);
  EXPECT_EQ(regs->rip, kCode);
  // The stop was consumed: the next run goes on (and is stopped again).
  std::thread again([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m->vcpu->request_stop();
  });
  EXPECT_EQ(m->vcpu->run({}).kind, ExitKind::kStopped);
  again.join();
}

TEST_P(BackendTest, RequestStopBeforeRunStopsTheNextRun) {
  auto m = boot(GetParam(), kSpin);
  ASSERT_TRUE(m);
  m->vcpu->request_stop();
  EXPECT_EQ(m->vcpu->run({}).kind, ExitKind::kStopped);
  auto regs = m->vcpu->registers();
  ASSERT_TRUE(regs);
  EXPECT_EQ(regs->rip, kCode);
}

TEST(KvmVcpuTest, RequestStopIsNeverLostAroundTheStartOfRun) {
  if (auto st = KvmVcpu::available(); !st) GTEST_SKIP() << "KVM unusable: " << st.error().message;
  auto m = boot("kvm", kSpin);
  ASSERT_TRUE(m);
  for (int i = 0; i < 200; ++i) {
    SCOPED_TRACE(i);
    std::atomic<bool> returned{false};
    int requests = 0;
    std::thread stopper([&] {
      std::this_thread::sleep_for(std::chrono::microseconds((i * 37) % 300));
      // Asked again every 500 ms only so that a lost request fails the test instead of hanging.
      while (!returned.load()) {
        m->vcpu->request_stop();
        ++requests;
        for (int t = 0; t < 500 && !returned.load(); ++t) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    });
    const VcpuExit exit = m->vcpu->run({});
    returned.store(true);
    stopper.join();
    EXPECT_EQ(exit.kind, ExitKind::kStopped);
    EXPECT_EQ(requests, 1);
    // A request that arrived after run() returned is still pending: consume it.
    if (requests > 1) {
      EXPECT_EQ(m->vcpu->run({}).kind, ExitKind::kStopped);
    }
  }
}

// KVM's rule, kept by the vCPU: it runs on the thread of its first run (a debugged target has
// one thread for its whole life), and a run from any other thread is a bug of the caller.
TEST(KvmVcpuDeathTest, ARunFromAnotherThreadThanTheFirstRunsIsACheckFailure) {
  if (auto st = KvmVcpu::available(); !st) GTEST_SKIP() << "KVM unusable: " << st.error().message;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto m = boot("kvm", kSpin);
  ASSERT_TRUE(m);
  // Single steps, through the composed vCPU as a sandbox drives it: a stop request would be
  // answered by the composition without entering KVM.
  const RunOptions step{.single_step = true};
  ASSERT_EQ(m->vcpu->run(step).kind, ExitKind::kDebug);  // binds the vCPU to this thread
  ASSERT_EQ(m->vcpu->run(step).kind, ExitKind::kDebug);  // the same thread: fine
  EXPECT_DEATH(
      {
        std::thread other([&] { (void)m->vcpu->run(step); });
        other.join();
      },
      "a KVM vCPU runs on the thread of its first run");
}

TEST_P(BackendTest, SingleStepThreeInstructions) {
  auto scenario = [](const std::string& backend) {
    return run_to_exits(backend, kSteps, 4, {}, RunOptions{.single_step = true});
  };
  auto obs = run_and_compare(scenario);
  ASSERT_EQ(obs.size(), 4u);
  const uint64_t rips[] = {kCode + 5, kCode + 8, kCode + 9, kCode + 10};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(obs[i].exit.kind, ExitKind::kDebug) << i << ": " << obs[i].exit.detail;
    EXPECT_EQ(obs[i].regs.rip, rips[i]) << i;
  }
  EXPECT_EQ(obs[1].regs.rax, 3u);
  // A step over `hlt` is a halt, RIP after it, on both backends.
  EXPECT_EQ(obs[3].exit.kind, ExitKind::kHalt) << obs[3].exit.detail;
  EXPECT_EQ(obs[3].regs.rip, rips[3]);
}

TEST_P(BackendTest, SingleStepOverPortIoAndFaults) {
  auto step_all = [](std::span<const uint8_t> code, int exits) {
    return [code, exits](const std::string& backend) {
      return run_to_exits(backend, code, exits, {}, RunOptions{.single_step = true});
    };
  };
  auto io = run_and_compare(step_all(kOutHlt, 4));
  ASSERT_EQ(io.size(), 4u);
  EXPECT_EQ(io[0].exit.kind, ExitKind::kDebug);
  EXPECT_EQ(io[1].exit.kind, ExitKind::kDebug);
  EXPECT_EQ(io[2].exit.kind, ExitKind::kIoOut);
  EXPECT_EQ(io[2].exit.data, 0xdeadbeefu);
  EXPECT_EQ(io[2].regs.rip, kCode + 10);
  EXPECT_EQ(io[3].exit.kind, ExitKind::kDebug);
  EXPECT_EQ(io[3].regs.rip, kCode + 12);

  auto fault = run_and_compare(step_all(kUd2, 1));
  ASSERT_EQ(fault.size(), 1u);
  EXPECT_EQ(fault[0].exit.kind, ExitKind::kException);
  EXPECT_EQ(fault[0].exit.vector, kInvalidOpcode);
  EXPECT_EQ(fault[0].regs.rip, kCode);
}

TEST_P(BackendTest, StepThenContinue) {
  auto scenario = [](const std::string& backend) {
    std::vector<Observation> out;
    auto m = boot(backend, kSteps);
    if (!m) return out;
    out.push_back(observe(*m, RunOptions{.single_step = true}));
    out.push_back(observe(*m));
    return out;
  };
  auto obs = run_and_compare(scenario);
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kDebug);
  EXPECT_EQ(obs[1].exit.kind, ExitKind::kHalt);
  EXPECT_EQ(obs[1].regs.rip, kCode + 10);
  EXPECT_EQ(obs[1].regs.rax, 3u);
}

TEST_P(BackendTest, CpuidAnswersFromTheCanonicalTable) {
  auto table = canonical_cpuid();
  ASSERT_TRUE(table);
  const std::pair<uint32_t, uint32_t> leaves[] = {
      {0x0, 0}, {0x1, 0}, {0x4, 1}, {0x7, 0}, {0xD, 1}, {0x80000000u, 0}, {0x80000001u, 0}};
  for (auto [leaf, subleaf] : leaves) {
    SCOPED_TRACE(leaf);
    auto obs = run_and_compare(kCpuid, 1, [&](RegisterFile& r) { r.rax = leaf, r.rcx = subleaf; });
    ASSERT_EQ(obs.size(), 1u);
    EXPECT_EQ(obs[0].exit.kind, ExitKind::kHalt);
    EXPECT_EQ(obs[0].regs.rip, kCode + sizeof kCpuid);
    auto it = std::find_if(table->begin(), table->end(), [&](const CpuidEntry& e) {
      return e.function == leaf && e.index == subleaf;
    });
    ASSERT_NE(it, table->end());
    EXPECT_EQ(obs[0].regs.rax, it->eax);
    EXPECT_EQ(obs[0].regs.rbx, it->ebx);
    EXPECT_EQ(obs[0].regs.rcx, it->ecx);
    EXPECT_EQ(obs[0].regs.rdx, it->edx);
  }
  // Leaves beyond the model's ranges answer as the software vCPU's (qemu: the highest basic leaf).
  for (uint32_t leaf : {0x40000000u, 0x8000001Fu, 0x20u}) {
    SCOPED_TRACE(leaf);
    auto obs = run_and_compare(kCpuid, 1, [&](RegisterFile& r) { r.rax = leaf, r.rcx = 0; });
    ASSERT_EQ(obs.size(), 1u);
    EXPECT_EQ(obs[0].exit.kind, ExitKind::kHalt);
  }
}

TEST_P(BackendTest, SingleStepOverCpuid) {
  auto obs = run_and_compare([](const std::string& backend) {
    return run_to_exits(
        backend, kCpuid, 2, [](RegisterFile& r) { r.rax = 1, r.rcx = 0; },
        RunOptions{.single_step = true});
  });
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_EQ(obs[0].exit.kind, ExitKind::kDebug);
  EXPECT_EQ(obs[0].regs.rip, kCode + 2);
  EXPECT_EQ(obs[0].regs.rax, 0x663u);
  EXPECT_EQ(obs[1].exit.kind, ExitKind::kHalt);
}

TEST(KvmVcpuTest, CpuidWithoutTheTableOrEmulation) {
  if (auto st = KvmVcpu::available(); !st) GTEST_SKIP() << "KVM unusable: " << st.error().message;
  auto m = boot(
      "kvm", kCpuid, [](RegisterFile& r) { r.rax = 1, r.rcx = 0; }, false);
  ASSERT_TRUE(m);
  const bool installed = m->kvm->cpuid_matches_model();
  EXPECT_EQ(m->vcpu->run({}).kind, ExitKind::kHalt);
  auto regs = m->vcpu->registers();
  ASSERT_TRUE(regs);
  if (installed) {
    EXPECT_EQ(regs->rax, 0x663u);
  } else {
    // Measured on kvm_pvm: without KVM_SET_CPUID2 every leaf answers zeros (docs/kvm.md).
    EXPECT_EQ(regs->rax, 0u);
    EXPECT_EQ(regs->rbx, 0u);
    EXPECT_EQ(regs->rcx, 0u);
    EXPECT_EQ(regs->rdx, 0u);
  }
}

TEST(KvmVcpuTest, AtMostFourCpuidSites) {
  if (auto st = KvmVcpu::available(); !st) GTEST_SKIP() << "KVM unusable: " << st.error().message;
  auto memory = GuestMemory::create(kMemorySize);
  ASSERT_TRUE(memory);
  auto vcpu = KvmVcpu::create(*memory, {});
  ASSERT_TRUE(vcpu);
  EXPECT_TRUE((*vcpu)->emulate_cpuid_at({1, 2, 3, 4}));
  auto st = (*vcpu)->emulate_cpuid_at({1, 2, 3, 4, 5});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("only 4 hardware breakpoints"), std::string::npos);
}

TEST_P(BackendTest, DirtyPagesAreExact) {
  auto m = boot(GetParam(), kDirty);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->vcpu->set_dirty_tracking(true));
  auto cursor = m->memory.dirty_log().open();
  std::vector<uint64_t> pages;
  ASSERT_TRUE(cursor.take(pages));
  EXPECT_TRUE(pages.empty());
  EXPECT_EQ(m->vcpu->run({}).kind, ExitKind::kHalt);
  ASSERT_TRUE(cursor.take(pages));
  std::sort(pages.begin(), pages.end());
  EXPECT_EQ(pages, (std::vector<uint64_t>{0x200, 0x201, 0x3ff}));
  pages.clear();
  ASSERT_TRUE(cursor.take(pages));
  EXPECT_TRUE(pages.empty());
}

TEST_P(BackendTest, SseIsExecutedOrReportedByName) {
  auto obs = run_to_exits(GetParam(), kAddps, 1);
  ASSERT_EQ(obs.size(), 1u);
  const VcpuExit& exit = obs[0].exit;
  if (exit.kind == ExitKind::kUnsupported) {
    EXPECT_TRUE(is_kvm());
    EXPECT_NE(exit.detail.find("`addps xmm0, xmm1` at 0x100000"), std::string::npos) << exit.detail;
    EXPECT_NE(exit.detail.find("--vcpu unicorn"), std::string::npos) << exit.detail;
    EXPECT_EQ(obs[0].regs.rip, kCode);
  } else {
    EXPECT_EQ(exit.kind, ExitKind::kHalt) << exit.detail;
    EXPECT_EQ(obs[0].regs.rip, kCode + sizeof kAddps);
  }
}

// int3
constexpr uint8_t kInt3[] = {0xcc};

TEST_P(BackendTest, Int3IsABreakpointOrReportedByName) {
  auto obs = run_to_exits(GetParam(), kInt3, 1);
  ASSERT_EQ(obs.size(), 1u);
  const VcpuExit& exit = obs[0].exit;
  if (exit.kind == ExitKind::kUnsupported) {
    EXPECT_TRUE(is_kvm());  // kvm_pvm: emulation failure (docs/kvm.md)
    EXPECT_NE(exit.detail.find("`int3` at 0x100000"), std::string::npos) << exit.detail;
    EXPECT_EQ(obs[0].regs.rip, kCode);
  } else {
    EXPECT_EQ(exit.kind, ExitKind::kException) << exit.detail;
    EXPECT_EQ(exit.vector, kBreakpoint);
  }
}

// fninit; fld1; fldz; hlt
constexpr uint8_t kFld1Fldz[] = {0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xee, 0xf4};
// 1.0 and 0.0 as 80-bit extended precision (mantissa with its explicit integer bit, exponent).
constexpr std::array<uint8_t, 10> kX87One = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
constexpr std::array<uint8_t, 10> kX87Zero = {};

// The register file's x87 convention (vmm/register_file.h): st[i] is ST(i) counted from the
// top, fsw holds TOP, ftw is the full tag word by physical register. After fld1; fldz: TOP = 6,
// ST(0) = R6 = 0.0 (tag 01), ST(1) = R7 = 1.0 (tag 00), the rest empty.
TEST_P(BackendTest, X87RegistersCountFromTheTopOfTheStack) {
  auto obs = run_to_exits(GetParam(), kFld1Fldz, 1);
  ASSERT_EQ(obs.size(), 1u);
  if (obs[0].exit.kind == ExitKind::kUnsupported) {
    EXPECT_TRUE(is_kvm());  // kvm_pvm: x87 after fninit is an emulation failure (docs/kvm.md)
    return;
  }
  ASSERT_EQ(obs[0].exit.kind, ExitKind::kHalt) << obs[0].exit.detail;
  const RegisterFile& r = obs[0].regs;
  EXPECT_EQ((r.fsw >> 11) & 7, 6);
  EXPECT_EQ(r.st[0], kX87Zero);
  EXPECT_EQ(r.st[1], kX87One);
  EXPECT_EQ(r.ftw, 0x1FFF);
  // The last x87 instruction, fldz (D9 EE): hardware may keep it only on an unmasked exception.
  if (!is_kvm()) {
    EXPECT_EQ(r.fop, 0x1EE);
    EXPECT_EQ(r.fip, kCode + 4);
    EXPECT_EQ(r.fdp, 0u);
  }
}

// The same state set with TOP != 0 reads back unchanged, before and after a run.
TEST_P(BackendTest, X87StateWithANonZeroTopRoundTrips) {
  RegisterFile set = initial_registers(kCode);
  set.fsw = 6 << 11;
  set.ftw = 0x1FFF;
  set.st[0] = kX87Zero;
  set.st[1] = kX87One;
  set.fop = 0x51D, set.fip = kCode + 0x40, set.fdp = kCode + 0x1000;  // not the code's: as set
  auto m = boot(GetParam(), kHlt, [&](RegisterFile& r) { r = set; });
  ASSERT_TRUE(m);
  auto before = m->vcpu->registers();
  ASSERT_TRUE(before);
  EXPECT_EQ(first_difference(set, *before), std::nullopt);
  EXPECT_EQ(before->ftw, 0x1FFF);
  ASSERT_EQ(m->vcpu->run({}).kind, ExitKind::kHalt);
  auto after = m->vcpu->registers();
  ASSERT_TRUE(after);
  set.rip = kCode + 1;
  EXPECT_EQ(first_difference(set, *after), std::nullopt);
  EXPECT_EQ(after->ftw, 0x1FFF);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest, ::testing::Values("unicorn", "kvm"),
                         [](const auto& info) { return info.param; });

TEST(KvmVcpuTest, AvailableSaysWhyNot) {
  auto st = KvmVcpu::available();
  auto memory = GuestMemory::create(kMemorySize);
  ASSERT_TRUE(memory);
  auto vcpu = KvmVcpu::create(*memory, {});
  // create() fails exactly when available() does, with the same one-line reason.
  EXPECT_EQ(st.has_value(), vcpu.has_value());
  if (!st) {
    EXPECT_FALSE(st.error().message.empty());
    EXPECT_EQ(st.error().message.find('\n'), std::string::npos);
    EXPECT_EQ(vcpu.error().message, st.error().message);
  }
}

TEST(KvmVcpuTest, FreshRegistersMatchTheSoftwareVcpu) {
  if (auto st = KvmVcpu::available(); !st) GTEST_SKIP() << "KVM unusable: " << st.error().message;
  auto kvm = boot("kvm", kSpin);
  auto uc = boot("unicorn", kSpin);
  ASSERT_TRUE(kvm && uc);
  auto a = uc->vcpu->registers();
  auto b = kvm->vcpu->registers();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(first_difference(*a, *b), std::nullopt);
  EXPECT_EQ(b->fcw, 0x37F);
  EXPECT_EQ(b->mxcsr, 0x1F80u);
  EXPECT_EQ(b->cs, kCodeSelector);
  EXPECT_EQ(b->ss, kDataSelector);
}

TEST(KvmVcpuTest, InstructionLimitIsRefusedNotIgnored) {
  if (auto st = KvmVcpu::available(); !st) GTEST_SKIP() << "KVM unusable: " << st.error().message;
  auto m = boot("kvm", kSpin);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->vcpu->counts_instructions());
  const VcpuExit exit = m->vcpu->run(RunOptions{.max_instructions = 10});
  EXPECT_EQ(exit.kind, ExitKind::kUnsupported);
  EXPECT_NE(exit.detail.find("instruction limit"), std::string::npos) << exit.detail;
  auto regs = m->vcpu->registers();
  ASSERT_TRUE(regs);
  EXPECT_EQ(regs->rip, kCode);
}

TEST(CpuModelTest, CanonicalTableIsTheSoftwareVcpusQemu64) {
  auto table = canonical_cpuid();
  ASSERT_TRUE(table);
  ASSERT_FALSE(table->empty());
  const CpuidEntry& leaf0 = table->front();
  EXPECT_EQ(leaf0.function, 0u);
  EXPECT_EQ(leaf0.eax, 0xDu);  // max basic leaf
  // "AuthenticAMD" in EBX, EDX, ECX.
  EXPECT_EQ(leaf0.ebx, 0x68747541u);
  EXPECT_EQ(leaf0.edx, 0x69746E65u);
  EXPECT_EQ(leaf0.ecx, 0x444D4163u);
  auto leaf1 = std::find_if(table->begin(), table->end(),
                            [](const CpuidEntry& e) { return e.function == 1; });
  ASSERT_NE(leaf1, table->end());
  EXPECT_EQ(leaf1->eax, 0x663u);
  EXPECT_TRUE(std::any_of(table->begin(), table->end(),
                          [](const CpuidEntry& e) { return e.function == 0x80000001u; }));
}

}  // namespace
}  // namespace hlrr::vmm

namespace hlrr::vmm {
namespace {

TEST(CodeScan, TellsWhetherCodeTouchesFpuState) {
  const struct {
    std::vector<uint8_t> code;
    bool uses_fpu;
  } cases[] = {
      {{0x48, 0xFF, 0xC0, 0xF4}, false},       // inc rax; hlt
      {{0x0F, 0x58, 0xC1}, true},              // addps xmm0, xmm1
      {{0xD9, 0xEB}, true},                    // fldpi
      {{0x0F, 0xAE, 0x5C, 0x24, 0xFC}, true},  // stmxcsr [rsp - 4]
      {{0x66, 0x48, 0x0F, 0x6E, 0xC0}, true},  // movq xmm0, rax
  };
  for (const auto& c : cases) {
    const CodeRange range{0x100000, c.code};
    bool uses_fpu = !c.uses_fpu;
    (void)scan_code(std::span(&range, 1), &uses_fpu);
    EXPECT_EQ(uses_fpu, c.uses_fpu) << int(c.code[0]);
  }
}

}  // namespace
}  // namespace hlrr::vmm
