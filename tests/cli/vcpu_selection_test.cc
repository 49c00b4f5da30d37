// hlrun's --vcpu decision with an injected KVM capability: the exit status and the one line.
#include "cli/vcpu_selection.h"

#include <gtest/gtest.h>

namespace hlrr::cli {
namespace {

TEST(VcpuSelection, KvmThatCannotExecuteSseRefusesAnSseGuestWithOneLine) {
  const vmm::KvmCapability no_sse{{}, false};
  const auto s = select_vcpu("hlrun", vmm::VcpuKind::kKvm, /*guest_needs_sse=*/true, no_sse);
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_EQ(s.line,
            "hlrun: the guest needs x87/SSE (built with them, or its code uses them) and this "
            "KVM cannot execute SSE: use --vcpu unicorn, or build the guest GENERAL_REGS_ONLY");
  EXPECT_EQ(s.line.find('\n'), std::string::npos);
  // The same KVM runs a general-regs-only guest, and auto takes the software vCPU for SSE.
  const auto general = select_vcpu("hlrun", vmm::VcpuKind::kKvm, false, no_sse);
  EXPECT_EQ(general.exit_code, 0);
  EXPECT_EQ(general.kind, vmm::VcpuKind::kKvm);
  const auto automatic = select_vcpu("hlrun", vmm::VcpuKind::kAuto, true, no_sse);
  EXPECT_EQ(automatic.exit_code, 0);
  EXPECT_EQ(automatic.kind, vmm::VcpuKind::kUnicorn);
  EXPECT_EQ(automatic.line,
            "hlrun: vcpu: unicorn: the guest needs x87/SSE (built with them, or its code uses "
            "them) and this KVM cannot execute SSE");
}

TEST(VcpuSelection, AbsentKvm) {
  const vmm::KvmCapability absent{base::fail("/dev/kvm: No such file or directory"), false};
  auto s = select_vcpu("hlrun", vmm::VcpuKind::kKvm, false, absent);
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_EQ(s.line,
            "hlrun: KVM is not usable here: /dev/kvm: No such file or directory (use --vcpu "
            "unicorn)");
  s = select_vcpu("hlrun", vmm::VcpuKind::kAuto, false, absent);
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_EQ(s.kind, vmm::VcpuKind::kUnicorn);
  EXPECT_EQ(s.line,
            "hlrun: vcpu: unicorn: KVM is not usable here: /dev/kvm: No such file or directory");
}

}  // namespace
}  // namespace hlrr::cli
