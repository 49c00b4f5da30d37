// The vCPU backend decision over every case: KVM absent / present without SSE / present with
// SSE, times a guest that needs SSE or not, times --vcpu auto, kvm, unicorn.
#include "vmm/backend_choice.h"

#include <gtest/gtest.h>

namespace hlrr::vmm {
namespace {

const KvmCapability kAbsent{base::fail("/dev/kvm: No such file or directory"), false};
const KvmCapability kNoSse{{}, false};
const KvmCapability kWithSse{{}, true};

struct Case {
  const char* name;
  const KvmCapability* kvm;
  bool needs_sse;
  VcpuKind requested;
  // The backend chosen, or the error's text when `error` is set.
  VcpuKind kind;
  const char* text;
  bool error = false;
};

constexpr const char* kSse =
    "the guest needs x87/SSE (built with them, or its code uses them) and this KVM cannot "
    "execute SSE";

TEST(BackendChoice, EveryCase) {
  using enum VcpuKind;
  const std::string no_sse_error =
      std::string(kSse) + ": use --vcpu unicorn, or build the guest GENERAL_REGS_ONLY";
  const std::string absent_error =
      "KVM is not usable here: /dev/kvm: No such file or directory (use --vcpu unicorn)";
  const std::string absent_auto =
      "unicorn: KVM is not usable here: /dev/kvm: No such file or directory";
  const std::string sse_auto = std::string("unicorn: ") + kSse;
  const Case cases[] = {
      {"absent, integer, auto", &kAbsent, false, kAuto, kUnicorn, absent_auto.c_str()},
      {"absent, sse, auto", &kAbsent, true, kAuto, kUnicorn, absent_auto.c_str()},
      {"no-sse kvm, integer, auto", &kNoSse, false, kAuto, kKvm,
       "kvm: usable, and the guest is general-regs-only"},
      {"no-sse kvm, sse, auto", &kNoSse, true, kAuto, kUnicorn, sse_auto.c_str()},
      {"sse kvm, integer, auto", &kWithSse, false, kAuto, kKvm,
       "kvm: usable, and the guest is general-regs-only"},
      {"sse kvm, sse, auto", &kWithSse, true, kAuto, kKvm,
       "kvm: usable, and it executes the guest's SSE"},
      {"absent, integer, kvm", &kAbsent, false, kKvm, kKvm, absent_error.c_str(), true},
      {"absent, sse, kvm", &kAbsent, true, kKvm, kKvm, absent_error.c_str(), true},
      {"no-sse kvm, integer, kvm", &kNoSse, false, kKvm, kKvm, "kvm: asked for with --vcpu kvm"},
      {"no-sse kvm, sse, kvm", &kNoSse, true, kKvm, kKvm, no_sse_error.c_str(), true},
      {"sse kvm, integer, kvm", &kWithSse, false, kKvm, kKvm, "kvm: asked for with --vcpu kvm"},
      {"sse kvm, sse, kvm", &kWithSse, true, kKvm, kKvm, "kvm: asked for with --vcpu kvm"},
  };
  for (const Case& c : cases) {
    const auto choice = choose_backend(c.requested, *c.kvm, c.needs_sse);
    if (c.error) {
      ASSERT_FALSE(choice) << c.name;
      EXPECT_EQ(choice.error().message, c.text) << c.name;
      continue;
    }
    ASSERT_TRUE(choice) << c.name << ": " << choice.error().message;
    EXPECT_EQ(choice->kind, c.kind) << c.name;
    EXPECT_EQ(choice->reason, c.text) << c.name;
  }
  // unicorn: whatever KVM can do.
  for (const KvmCapability* kvm : {&kAbsent, &kNoSse, &kWithSse}) {
    for (bool sse : {false, true}) {
      const auto choice = choose_backend(kUnicorn, *kvm, sse);
      ASSERT_TRUE(choice);
      EXPECT_EQ(choice->kind, kUnicorn);
      EXPECT_EQ(choice->reason, "unicorn: asked for with --vcpu unicorn");
    }
  }
}

// This machine has no /dev/kvm: the probe says so, and says no SSE.
TEST(BackendChoice, ProbeAgreesWithKvmAvailability) {
  const KvmCapability& kvm = probe_kvm();
  EXPECT_EQ(&kvm, &probe_kvm());  // once per process
  if (kvm.usable) GTEST_SKIP() << "KVM usable here: executes SSE = " << kvm.executes_sse;
  EXPECT_FALSE(kvm.executes_sse);
  EXPECT_FALSE(kvm.usable.error().message.empty());
}

}  // namespace
}  // namespace hlrr::vmm
