// Where the example guests and tools are, and a sandbox factory for tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "vmm/kvm_vcpu.h"
#include "vmm/sandbox.h"

namespace hlrr::testing {

inline std::string guest_path(const std::string& name) {
  return std::string(HLRR_GUEST_DIR) + "/" + name + ".elf";
}
inline std::string tool_path(const std::string& name) {
  return std::string(HLRR_BINARY_DIR) + "/cli/" + name;
}

// A sandbox for `guest` whose prints are appended to `*output`.
// `hlrun ARGS...` as a subprocess, bounded to 30 s.
inline ProcessResult run_hlrun(std::vector<std::string> args) {
  args.insert(args.begin(), tool_path("hlrun"));
  return run_process(args, std::chrono::seconds(30));
}

inline std::unique_ptr<vmm::Sandbox> make_sandbox(const std::string& guest, std::string* output,
                                                  vmm::SandboxConfig config = {}) {
  config.output = [output](std::string_view text) { output->append(text); };
  auto sandbox = vmm::Sandbox::create_from_file(guest_path(guest), std::move(config));
  if (!sandbox) {
    ADD_FAILURE() << "cannot create a sandbox for " << guest << ": " << sandbox.error().message;
    return nullptr;
  }
  return std::move(*sandbox);
}

inline vmm::Value call_ok(vmm::Sandbox& sandbox, std::string_view name,
                          std::initializer_list<vmm::Value> args = {}) {
  const std::vector<vmm::Value> list(args);
  auto result = sandbox.call(name, list);
  if (!result) {
    ADD_FAILURE() << name << " faulted: " << result.error().to_string();
    return std::monostate{};
  }
  return std::move(*result);
}

// A test run once per vCPU backend. KVM cases skip, saying why, where /dev/kvm is not usable.
class BackendTest : public ::testing::TestWithParam<vmm::VcpuKind> {
 protected:
  void SetUp() override { skip_unless_usable(GetParam()); }
  static void skip_unless_usable(vmm::VcpuKind kind) {
    if (kind != vmm::VcpuKind::kKvm) return;
    if (auto usable = vmm::KvmVcpu::available(); !usable) {
      GTEST_SKIP() << "KVM not usable here: " << usable.error().message;
    }
  }
  vmm::SandboxConfig config() const {
    vmm::SandboxConfig c;
    c.vcpu = GetParam();
    return c;
  }
  // This machine's nested KVM runs CPU-bound guest code at well under 1 MIPS: keep work small.
  bool on_kvm() const { return GetParam() == vmm::VcpuKind::kKvm; }
};

inline std::string backend_name(const ::testing::TestParamInfo<vmm::VcpuKind>& info) {
  return vmm::to_string(info.param);
}

#define HLRR_INSTANTIATE_FOR_BACKENDS(suite)                                                \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                                 \
                           ::testing::Values(vmm::VcpuKind::kUnicorn, vmm::VcpuKind::kKvm), \
                           backend_name)

}  // namespace hlrr::testing
