// Hex helpers for the remote protocol: numbers are big-endian hex text, data is two hex digits
// per byte.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hlrr::rsp {

// Value of one hex digit, or -1.
int hex_digit_value(char c);

// Parses a whole string as a hex number (1..16 digits); nullopt if empty, too long or not hex.
std::optional<uint64_t> parse_hex_u64(std::string_view text);

// Decodes pairs of hex digits into `out` (which must be text.size()/2 long); false on bad input.
bool decode_hex_bytes(std::string_view text, std::span<uint8_t> out);

void append_hex_bytes(std::string& out, std::span<const uint8_t> bytes);
void append_hex_bytes(std::string& out, std::string_view bytes);
// Lower-case hex without leading zeros ("0" for zero).
void append_hex_u64(std::string& out, uint64_t value);
// Exactly two digits.
void append_hex_u8(std::string& out, uint8_t value);

// Splits `text` at the first `sep`: {before, after}; nullopt if `sep` is absent.
std::optional<std::pair<std::string_view, std::string_view>> split_once(std::string_view text,
                                                                        char sep);

// Parses "addr,len" (two hex numbers) as m, M, X, Z and qXfer send them.
std::optional<std::pair<uint64_t, uint64_t>> parse_address_length(std::string_view text);

}  // namespace hlrr::rsp
