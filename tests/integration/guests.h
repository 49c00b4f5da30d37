// Where the example guests and tools are, and a sandbox factory for tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "vmm/sandbox.h"

namespace hlrr::testing {

inline std::string guest_path(const std::string& name) {
  return std::string(HLRR_GUEST_DIR) + "/" + name + ".elf";
}
inline std::string tool_path(const std::string& name) {
  return std::string(HLRR_BINARY_DIR) + "/cli/" + name;
}

// A sandbox for `guest` whose prints are appended to `*output`.
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

}  // namespace hlrr::testing
