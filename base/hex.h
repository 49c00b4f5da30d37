// "0x1f": the one way hlrr prints an address or value in messages.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace hlrr::base {

inline std::string hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace hlrr::base
