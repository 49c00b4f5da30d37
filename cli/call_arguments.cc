#include "cli/call_arguments.h"

#include <cerrno>
#include <cstdlib>

namespace hlrr::cli {
namespace {

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 0);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

base::Expected<vmm::Value> parse_call_argument(const std::string& text) {
  if (text.rfind("s:", 0) == 0) return vmm::Value{text.substr(2)};
  if (text.rfind("b:", 0) == 0) {
    const std::string hex = text.substr(2);
    if (hex.size() % 2 != 0)
      return base::fail("byte argument '" + text + "' has an odd number of hex digits");
    vmm::Bytes bytes;
    for (size_t i = 0; i < hex.size(); i += 2) {
      const int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
      if (hi < 0 || lo < 0) return base::fail("byte argument '" + text + "' is not hex");
      bytes.push_back(static_cast<uint8_t>(hi * 16 + lo));
    }
    return vmm::Value{std::move(bytes)};
  }
  int64_t n;
  if (parse_int(text, n)) return vmm::Value{n};
  return vmm::Value{text};
}

base::Expected<std::vector<vmm::Value>> parse_call_arguments(
    const std::vector<std::string>& texts) {
  std::vector<vmm::Value> out;
  for (const auto& t : texts) {
    auto v = parse_call_argument(t);
    if (!v) return base::Unexpected(std::move(v).error());
    out.push_back(std::move(*v));
  }
  return out;
}

base::Expected<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return base::fail("empty size");
  uint64_t scale = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'K':
    case 'k':
      scale = 1ull << 10;
      digits.pop_back();
      break;
    case 'M':
    case 'm':
      scale = 1ull << 20;
      digits.pop_back();
      break;
    case 'G':
    case 'g':
      scale = 1ull << 30;
      digits.pop_back();
      break;
    default:
      break;
  }
  int64_t n;
  if (!parse_int(digits, n) || n <= 0)
    return base::fail("invalid size '" + text + "' (e.g. 4M, 512K, 1G)");
  return static_cast<uint64_t>(n) * scale;
}

}  // namespace hlrr::cli
