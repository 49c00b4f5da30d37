#include "vmm/value.h"

#include <cstdio>

#include "base/printable.h"

namespace hlrr::vmm {

ValueType type_of(const Value& value) {
  return static_cast<ValueType>(value.index());
}

const char* to_string(ValueType type) {
  switch (type) {
    case ValueType::kVoid:
      return "void";
    case ValueType::kI64:
      return "i64";
    case ValueType::kString:
      return "string";
    case ValueType::kBytes:
      return "bytes";
  }
  return "?";
}

std::string to_string(const Value& value) {
  switch (type_of(value)) {
    case ValueType::kVoid:
      return "void";
    case ValueType::kI64:
      return std::to_string(std::get<int64_t>(value));
    case ValueType::kString:
      return "\"" + base::printable(std::get<std::string>(value)) + "\"";
    case ValueType::kBytes: {
      const auto& bytes = std::get<Bytes>(value);
      std::string out = "bytes[" + std::to_string(bytes.size()) + "]";
      for (size_t i = 0; i < bytes.size() && i < 32; ++i) {
        char buf[4];
        std::snprintf(buf, sizeof buf, " %02x", bytes[i]);
        out += buf;
      }
      if (bytes.size() > 32) out += " ...";
      return out;
    }
  }
  return "?";
}

}  // namespace hlrr::vmm
