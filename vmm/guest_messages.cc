#include "vmm/guest_messages.h"

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "base/hex.h"
#include "hl_abi.h"

namespace hlrr::vmm {
namespace {

using base::hex;

}  // namespace

bool is_guest_range(const GuestMemory& memory, uint64_t gpa, uint64_t len) {
  if (!memory.contains(gpa, len)) return false;
  if (len == 0) return true;
  const uint64_t end = gpa + len;
  const auto overlaps = [&](uint64_t hole) { return gpa < hole + HL_PAGE_SIZE && hole < end; };
  return !overlaps(0) && !overlaps(HL_STACK_GUARD);
}

base::Status write_message(GuestMemory& memory, uint64_t area, uint64_t area_size, uint32_t kind,
                           std::string_view name, std::span<const Value> args) {
  if (args.size() > HL_MAX_ARGS) {
    return base::fail("too many arguments (" + std::to_string(args.size()) + ", at most " +
                      std::to_string(HL_MAX_ARGS) + ")");
  }
  if (name.size() > HL_MAX_NAME) return base::fail("function name longer than 64 bytes");
  hl_message msg{};
  msg.magic = HL_MESSAGE_MAGIC;
  msg.kind = kind;
  msg.argc = static_cast<uint32_t>(args.size());
  msg.name_len = static_cast<uint32_t>(name.size());
  std::memcpy(msg.name, name.data(), name.size());

  uint64_t payload = area + sizeof(hl_message);
  const uint64_t area_end = area + area_size;
  for (size_t i = 0; i < args.size(); ++i) {
    hl_value& v = msg.args[i];
    v.type = static_cast<uint32_t>(type_of(args[i]));
    if (const auto* n = std::get_if<int64_t>(&args[i])) {
      v.u.i64 = *n;
      continue;
    }
    std::span<const uint8_t> bytes;
    if (const auto* s = std::get_if<std::string>(&args[i])) {
      bytes = std::span(reinterpret_cast<const uint8_t*>(s->data()), s->size());
    } else if (const auto* b = std::get_if<Bytes>(&args[i])) {
      bytes = *b;
    } else {
      continue;  // void
    }
    const uint64_t needed = bytes.size() + 1;  // + NUL for strings (harmless for bytes)
    if (needed > area_end - payload) {
      return base::fail("arguments too large for the " + std::to_string(area_size / 1024) +
                        " KiB call area");
    }
    if (auto st = memory.write(payload, bytes); !st) return st;
    if (auto st = memory.write_value<uint8_t>(payload + bytes.size(), 0); !st) return st;
    v.u.buf.ptr = payload;
    v.u.buf.len = bytes.size();
    payload += (needed + 7) & ~uint64_t{7};
  }
  return memory.write_value(area, msg);
}

base::Expected<GuestMessage> read_message(const GuestMemory& memory, uint64_t area) {
  auto raw = memory.read_value<hl_message>(area);
  if (!raw) return base::Unexpected(std::move(raw).error());
  const hl_message& msg = *raw;
  if (msg.magic != HL_MESSAGE_MAGIC) return base::fail("no message from the guest (bad magic)");
  if (msg.argc > HL_MAX_ARGS)
    return base::fail("message has " + std::to_string(msg.argc) + " arguments (at most 8)");
  if (msg.name_len > HL_MAX_NAME) return base::fail("message name longer than 64 bytes");
  GuestMessage out;
  out.kind = msg.kind;
  out.name.assign(msg.name, msg.name_len);
  out.args.reserve(msg.argc);
  for (uint32_t i = 0; i < msg.argc; ++i) {
    const hl_value& v = msg.args[i];
    switch (v.type) {
      case HL_VOID:
        out.args.emplace_back(std::monostate{});
        break;
      case HL_I64:
        out.args.emplace_back(v.u.i64);
        break;
      case HL_STRING:
      case HL_BYTES: {
        const char* what = v.type == HL_STRING ? "string" : "bytes";
        if (!is_guest_range(memory, v.u.buf.ptr, v.u.buf.len)) {
          return base::fail("argument " + std::to_string(i) + " (" + what + " at " +
                            hex(v.u.buf.ptr) + ", " + std::to_string(v.u.buf.len) +
                            " bytes) is outside guest memory");
        }
        const uint8_t* p = memory.host_base() + v.u.buf.ptr;
        if (v.type == HL_STRING) {
          out.args.emplace_back(std::string(reinterpret_cast<const char*>(p), v.u.buf.len));
        } else {
          out.args.emplace_back(Bytes(p, p + v.u.buf.len));
        }
        break;
      }
      default:
        return base::fail("argument " + std::to_string(i) + " has unknown type " +
                          std::to_string(v.type));
    }
  }
  return out;
}

}  // namespace hlrr::vmm
