#include "vmm/standard_host_functions.h"

#include <chrono>

namespace hlrr::vmm {

void add_standard_host_functions(HostFunctionTable& table) {
  table.add("clock_ns", {{}, ValueType::kI64}, [](std::span<const Value>) -> base::Expected<Value> {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
  });
}

}  // namespace hlrr::vmm
