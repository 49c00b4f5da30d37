#include "cli/call_arguments.h"

#include <cstdint>
#include <string_view>

namespace hlrr::cli {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

enum class Integer : uint8_t { kNotOne, kOutOfRange, kOk };

// An optional sign, then decimal digits or 0x and hex digits; never octal (010 is ten).
// kNotOne when `text` is not shaped like an integer, kOutOfRange when it is but does not fit.
Integer parse_int(std::string_view text, int64_t& out) {
  const bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  uint64_t base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return Integer::kNotOne;
  uint64_t magnitude = 0;
  bool overflow = false;
  for (const char c : text) {
    const int d = hex_digit(c);
    if (d < 0 || static_cast<uint64_t>(d) >= base) return Integer::kNotOne;
    const auto digit = static_cast<uint64_t>(d);
    if (magnitude > (UINT64_MAX - digit) / base) overflow = true;
    magnitude = magnitude * base + digit;
  }
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (overflow || magnitude > limit) return Integer::kOutOfRange;
  out = static_cast<int64_t>(negative ? 0 - magnitude : magnitude);  // modular: fits
  return Integer::kOk;
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
  switch (parse_int(text, n)) {
    case Integer::kOk:
      return vmm::Value{n};
    case Integer::kOutOfRange:
      return base::fail("argument '" + text +
                        "' is out of range for a 64-bit integer (s:TEXT passes text)");
    case Integer::kNotOne:
      break;
  }
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
  if (parse_int(digits, n) != Integer::kOk || n <= 0 ||
      static_cast<uint64_t>(n) > UINT64_MAX / scale)
    return base::fail("invalid size '" + text + "' (e.g. 4M, 512K, 1G)");
  return static_cast<uint64_t>(n) * scale;
}

}  // namespace hlrr::cli
