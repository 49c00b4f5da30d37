// Dispatcher's register and memory packets: g/G, p/P, m/M/X. The packet table and the rest
// are in dispatcher.cc.
#include "rsp/dispatcher.h"
#include "rsp/hex.h"
#include "rsp/packet_codec.h"

namespace hlrr::rsp {
namespace {

// orig_rax as `g` and `p` send it: -1, "not in a syscall" (rsp/registers.h).
constexpr std::string_view kOrigRaxHex = "ffffffffffffffff";

// Strips lldb's `;thread:xx;` suffix (QThreadSuffixSupported).
std::string_view strip_thread_suffix(std::string_view args) {
  std::size_t pos = args.find(";thread:");
  return pos == std::string_view::npos ? args : args.substr(0, pos);
}

}  // namespace

Dispatcher::Result Dispatcher::handle_read_registers(std::string_view, std::string& reply) {
  RegisterFile regs{};
  base::Status status = target_.read_registers(regs);
  if (!status) return target_failed(status.error());
  append_hex_bytes(reply, regs);
  reply += kOrigRaxHex;
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_write_registers(std::string_view args, std::string& reply) {
  if (thread_suffix_) args = strip_thread_suffix(args);
  if (args.size() % 2 != 0 || args.size() > 2 * kWireRegisterFileSize) {
    return fail(Errc::kInvalid, "G: bad length");
  }
  RegisterFile regs{};
  base::Status status = target_.read_registers(regs);
  if (!status) return target_failed(status.error());
  // A shorter G writes the leading registers and keeps the rest; orig_rax's bytes are ignored.
  const std::size_t ours = std::min(args.size(), 2 * kRegisterFileSize);
  std::array<uint8_t, 8> orig_rax{};
  if (!decode_hex_bytes(args.substr(0, ours), std::span(regs.data(), ours / 2)) ||
      !decode_hex_bytes(args.substr(ours), std::span(orig_rax.data(), (args.size() - ours) / 2))) {
    return fail(Errc::kInvalid, "G: bad hex");
  }
  status = target_.write_registers(regs);
  if (!status) return target_failed(status.error());
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_read_register(std::string_view args, std::string& reply) {
  if (thread_suffix_) args = strip_thread_suffix(args);
  auto regno = parse_hex_u64(args);
  if (regno == static_cast<uint64_t>(kOrigRax)) {
    reply = kOrigRaxHex;
    return Outcome{};
  }
  if (!regno || *regno >= kRegisterCount) return fail(Errc::kInvalid, "p: bad register");
  std::array<uint8_t, 16> value{};
  std::span<uint8_t> bytes(value.data(), registers()[*regno].bitsize / 8);
  base::Status status = target_.read_register(static_cast<int>(*regno), bytes);
  if (!status) return target_failed(status.error());
  append_hex_bytes(reply, bytes);
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_write_register(std::string_view args, std::string& reply) {
  if (thread_suffix_) args = strip_thread_suffix(args);
  auto parts = split_once(args, '=');
  if (!parts) return fail(Errc::kInvalid, "P: no =");
  auto regno = parse_hex_u64(parts->first);
  if (!regno || *regno >= kWireRegisterCount) return fail(Errc::kInvalid, "P: bad register");
  if (*regno == static_cast<uint64_t>(kOrigRax)) {
    std::array<uint8_t, 8> ignored{};
    if (!decode_hex_bytes(parts->second, ignored)) return fail(Errc::kInvalid, "P: bad value");
    reply = "OK";  // gdb sets -1 when it writes the pc (amd64_linux_write_pc): nothing to do
    return Outcome{};
  }
  std::array<uint8_t, 16> value{};
  std::span<uint8_t> bytes(value.data(), registers()[*regno].bitsize / 8);
  if (!decode_hex_bytes(parts->second, bytes)) return fail(Errc::kInvalid, "P: bad value");
  base::Status status = target_.write_register(static_cast<int>(*regno), bytes);
  if (!status) return target_failed(status.error());
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_read_memory(std::string_view args, std::string& reply) {
  auto range = parse_address_length(args);
  if (!range) return fail(Errc::kInvalid, "m: bad address,length");
  // A shorter reply than asked is allowed; it keeps us within PacketSize.
  uint64_t length = std::min(range->second, kMaxReadLength);
  std::array<uint8_t, kMaxReadLength> buffer;
  std::span<uint8_t> bytes(buffer.data(), length);
  base::Status status = target_.read_memory(range->first, bytes);
  if (!status) return target_failed(status.error(), Errc::kMemory);
  append_hex_bytes(reply, bytes);
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_write_memory(std::string_view args, std::string& reply) {
  auto parts = split_once(args, ':');
  if (!parts) return fail(Errc::kInvalid, "M: no data");
  auto range = parse_address_length(parts->first);
  std::array<uint8_t, kMaxPacketSize / 2> buffer;
  // Bound the length before doubling it: 2 * 0x8000000000000000 wraps to 0.
  if (!range || range->second > buffer.size() || parts->second.size() != range->second * 2) {
    return fail(Errc::kInvalid, "M: bad address,length");
  }
  std::span<uint8_t> bytes(buffer.data(), range->second);
  if (!decode_hex_bytes(parts->second, bytes)) return fail(Errc::kInvalid, "M: bad hex");
  base::Status status = target_.write_memory(range->first, bytes);
  if (!status) return target_failed(status.error(), Errc::kMemory);
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_write_memory_binary(std::string_view args,
                                                          std::string& reply) {
  auto parts = split_once(args, ':');
  if (!parts) return fail(Errc::kInvalid, "X: no data");
  auto range = parse_address_length(parts->first);
  // The framing has already unescaped the data.
  if (!range || parts->second.size() != range->second) {
    return fail(Errc::kInvalid, "X: bad address,length");
  }
  if (range->second > 0) {
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(parts->second.data()),
                                   parts->second.size());
    base::Status status = target_.write_memory(range->first, bytes);
    if (!status) return target_failed(status.error(), Errc::kMemory);
  }
  reply = "OK";
  return Outcome{};
}

}  // namespace hlrr::rsp
