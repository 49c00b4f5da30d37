#include "rsp/hex.h"

namespace hlrr::rsp {
namespace {
constexpr char kDigits[] = "0123456789abcdef";
}

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<uint64_t> parse_hex_u64(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int d = hex_digit_value(c);
    if (d < 0) return std::nullopt;
    value = value << 4 | static_cast<uint64_t>(d);
  }
  return value;
}

bool decode_hex_bytes(std::string_view text, std::span<uint8_t> out) {
  // No arithmetic on the caller's size: out.size() * 2 could wrap.
  if (text.size() % 2 != 0 || text.size() / 2 != out.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_digit_value(text[2 * i]);
    int lo = hex_digit_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

void append_hex_u8(std::string& out, uint8_t value) {
  out.push_back(kDigits[value >> 4]);
  out.push_back(kDigits[value & 0xf]);
}

void append_hex_bytes(std::string& out, std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) append_hex_u8(out, b);
}

void append_hex_bytes(std::string& out, std::string_view bytes) {
  for (char c : bytes) append_hex_u8(out, static_cast<uint8_t>(c));
}

void append_hex_u64(std::string& out, uint64_t value) {
  char buf[16];
  int n = 0;
  do {
    buf[n++] = kDigits[value & 0xf];
    value >>= 4;
  } while (value != 0);
  while (n > 0) out.push_back(buf[--n]);
}

std::optional<std::pair<std::string_view, std::string_view>> split_once(std::string_view text,
                                                                        char sep) {
  std::size_t pos = text.find(sep);
  if (pos == std::string_view::npos) return std::nullopt;
  return std::pair{text.substr(0, pos), text.substr(pos + 1)};
}

std::optional<std::pair<uint64_t, uint64_t>> parse_address_length(std::string_view text) {
  auto parts = split_once(text, ',');
  if (!parts) return std::nullopt;
  auto address = parse_hex_u64(parts->first);
  auto length = parse_hex_u64(parts->second);
  if (!address || !length) return std::nullopt;
  return std::pair{*address, *length};
}

}  // namespace hlrr::rsp
