// Reading and writing hl_abi.h's hl_message in guest memory: the encoding of guest calls, host
// calls and their results. Everything the guest supplied is validated here, before the host
// uses it: message magic and sizes, and every (pointer, length) against guest memory.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "vmm/guest_memory.h"
#include "vmm/value.h"

namespace hlrr::vmm {

struct GuestMessage {
  uint32_t kind = 0;  // hl_message_kind
  std::string name;
  std::vector<Value> args;
};

// True if the guest may legitimately point at [gpa, gpa + len): inside guest memory and not in
// the null page or the stack guard page.
bool is_guest_range(const GuestMemory& memory, uint64_t gpa, uint64_t len);

// Writes a message of `kind` into the area at `area` (size `area_size`): strings and byte
// buffers are copied into the area after the struct (strings NUL-terminated) and pointed at.
base::Status write_message(GuestMemory& memory, uint64_t area, uint64_t area_size, uint32_t kind,
                           std::string_view name, std::span<const Value> args);

// Reads and validates the message at `area`. Errors say what is wrong in one line, e.g.
// "argument 0 (string at 0xdead0000, 16 bytes) is outside guest memory".
base::Expected<GuestMessage> read_message(const GuestMemory& memory, uint64_t area);

}  // namespace hlrr::vmm
