#include "vmm/standard_host_functions.h"

#include <chrono>
#include <random>

namespace hlrr::vmm {

namespace {

int64_t nanoseconds(std::chrono::nanoseconds d) {
  return static_cast<int64_t>(d.count());
}

// The guest's getrandom() (guest/runtime/libc): at most one page a call, from the host's
// entropy source.
base::Expected<Value> random_bytes(std::span<const Value> args) {
  const int64_t n = std::get<int64_t>(args[0]);
  if (n < 0 || n > 4096) return base::Unexpected(base::Error{"random_bytes: 0..4096 bytes"});
  static std::random_device device;
  Bytes out(static_cast<size_t>(n));
  for (auto& b : out) b = static_cast<uint8_t>(device());
  return out;
}

}  // namespace

void add_standard_host_functions(HostFunctionTable& table) {
  table.add("clock_ns", {{}, ValueType::kI64}, [](std::span<const Value>) -> base::Expected<Value> {
    return nanoseconds(std::chrono::steady_clock::now().time_since_epoch());
  });
  table.add("realtime_ns", {{}, ValueType::kI64},
            [](std::span<const Value>) -> base::Expected<Value> {
              return nanoseconds(std::chrono::system_clock::now().time_since_epoch());
            });
  table.add("random_bytes", {{ValueType::kI64}, ValueType::kBytes}, random_bytes);
}

}  // namespace hlrr::vmm
