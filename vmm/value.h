// Value: a typed argument or result crossing the host/guest boundary: nothing (void), a 64-bit
// integer, a string or a byte buffer (hl_abi.h's hl_type, as a C++ value type).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace hlrr::vmm {

using Bytes = std::vector<uint8_t>;
using Value = std::variant<std::monostate, int64_t, std::string, Bytes>;

// Same numbering as hl_abi.h's enum hl_type.
enum class ValueType : uint8_t { kVoid = 0, kI64 = 1, kString = 2, kBytes = 3 };

ValueType type_of(const Value& value);
const char* to_string(ValueType type);
// For people: 42, "text", bytes[3] 01 02 03, void.
std::string to_string(const Value& value);

}  // namespace hlrr::vmm
