// Text from a guest or a file shown on a terminal: control bytes, escapes and newlines would
// let it rewrite the screen or forge lines of ours, so they are shown as C escapes.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace hlrr::base {

// `text` with `\`, control bytes (newline, ESC, ...), DEL and bytes >= 0x80 escaped (`\\`,
// `\n`, `\t`, `\r`, `\xNN`); printable ASCII unchanged.
inline std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (byte < 0x20 || byte >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", byte);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace hlrr::base
