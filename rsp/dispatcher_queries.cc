// Dispatcher's query packets: qSupported and the no-ack mode, qXfer (target description, exec
// file), threads, qRcmd (monitor), and lldb's qHostInfo, qProcessInfo, qRegisterInfo and
// qMemoryRegionInfo. The packet table and the rest are in dispatcher.cc.
#include <algorithm>
#include <array>

#include "rsp/dispatcher.h"
#include "rsp/hex.h"
#include "rsp/packet_codec.h"
#include "rsp/target_description.h"
#include "rsp/thread_id.h"

namespace hlrr::rsp {
namespace {

constexpr std::string_view kTriple = "x86_64-unknown-unknown";

}  // namespace

Dispatcher::Result Dispatcher::handle_q_supported(std::string_view args, std::string& reply) {
  // "qSupported:multiprocess+;swbreak+;...": the features the client understands.
  const auto offered = [&](std::string_view feature) {
    for (std::string_view rest = args.starts_with(':') ? args.substr(1) : args; !rest.empty();) {
      const auto end = rest.find(';');
      if (rest.substr(0, end) == feature) return true;
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
    return false;
  };
  client_swbreak_ = offered("swbreak+");
  client_hwbreak_ = offered("hwbreak+");
  multiprocess_ = offered("multiprocess+");
  reply = "PacketSize=";
  append_hex_u64(reply, kMaxPacketSize);
  reply += ";QStartNoAckMode+;qXfer:features:read+;vContSupported+";
  reply += ";QThreadSuffixSupported+;QListThreadsInStopReply+";
  if (target_.supports_breakpoint(BreakpointKind::kSoftware)) reply += ";swbreak+";
  if (target_.supports_breakpoint(BreakpointKind::kHardware)) reply += ";hwbreak+";
  if (!target_.exec_file_path().empty()) reply += ";qXfer:exec-file:read+";
  if (target_.reverse() != nullptr) reply += ";ReverseStep+;ReverseContinue+";
  if (multiprocess_) reply += ";multiprocess+";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_start_no_ack_mode(std::string_view, std::string& reply) {
  reply = "OK";
  Outcome outcome;
  outcome.disable_acks = true;
  return outcome;
}

Dispatcher::Result Dispatcher::xfer_read(std::string_view data, std::string_view offset_length,
                                         std::string& reply) {
  auto range = parse_address_length(offset_length);
  if (!range) return fail(Errc::kInvalid, "qXfer: bad offset,length");
  auto [offset, length] = *range;
  length = std::min(length, kMaxReadLength);
  if (offset >= data.size()) {
    reply = "l";
    return Outcome{};
  }
  std::string_view chunk = data.substr(offset, length);
  reply = offset + chunk.size() < data.size() ? "m" : "l";
  reply += chunk;  // binary data: the framing escapes it
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_xfer_features(std::string_view args, std::string& reply) {
  auto parts = split_once(args, ':');
  if (!parts) return fail(Errc::kInvalid, "qXfer:features: no annex");
  if (parts->first != "target.xml") return fail(Errc::kInvalid, "qXfer:features: unknown annex");
  return xfer_read(target_xml(), parts->second, reply);
}

Dispatcher::Result Dispatcher::handle_q_xfer_exec_file(std::string_view args, std::string& reply) {
  std::string path = target_.exec_file_path();
  if (path.empty()) return Outcome{};  // not offered: unsupported
  auto parts = split_once(args, ':');  // annex (a pid, may be empty) : offset,length
  if (!parts) return fail(Errc::kInvalid, "qXfer:exec-file: no annex");
  return xfer_read(path, parts->second, reply);
}

Dispatcher::Result Dispatcher::handle_q_c(std::string_view, std::string& reply) {
  reply = "QC" + our_thread_id(multiprocess_);
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_f_thread_info(std::string_view, std::string& reply) {
  reply = "m" + our_thread_id(multiprocess_);
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_s_thread_info(std::string_view, std::string& reply) {
  reply = "l";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_attached(std::string_view, std::string& reply) {
  reply = "1";
  return Outcome{};
}

void Dispatcher::run_monitor(std::string_view line, std::string& output) {
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\n')) line.remove_suffix(1);
  MonitorCommands* monitor = target_.monitor();
  if (line == "help") {
    output = "help -- list monitor commands\n";
    if (monitor != nullptr) {
      for (const MonitorCommands::Command& command : monitor->commands()) {
        output += command.name + " -- " + command.help + "\n";
      }
    }
    return;
  }
  if (monitor == nullptr) {
    output = "unknown monitor command '" + std::string(line) + "'; try 'monitor help'\n";
    return;
  }
  base::Expected<std::string> result = monitor->run(line);
  if (!result) {
    output = "error: " + result.error().message + "\n";
  } else {
    output = std::move(result).value();
  }
}

Dispatcher::Result Dispatcher::handle_q_rcmd(std::string_view args, std::string& reply) {
  if (args.size() % 2 != 0) return fail(Errc::kInvalid, "qRcmd: odd hex");
  std::string line(args.size() / 2, '\0');
  if (!decode_hex_bytes(args, std::span(reinterpret_cast<uint8_t*>(line.data()), line.size()))) {
    return fail(Errc::kInvalid, "qRcmd: bad hex");
  }
  std::string output;
  run_monitor(line, output);
  // Output goes in `O` console packets (the session chunks them), then OK: gdb and lldb both
  // print `O` text as it comes, whereas lldb shows a plain hex reply undecoded.
  *console_ += output;
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_offsets(std::string_view, std::string& reply) {
  reply = "Text=0;Data=0;Bss=0";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_symbol(std::string_view, std::string& reply) {
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_empty(std::string_view, std::string&) {
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_host_info(std::string_view, std::string& reply) {
  reply = "triple:";
  append_hex_bytes(reply, kTriple);
  reply += ";ptrsize:8;endian:little;";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_process_info(std::string_view, std::string& reply) {
  reply = "pid:1;ptrsize:8;endian:little;triple:";
  append_hex_bytes(reply, kTriple);
  reply += ";";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_register_info(std::string_view args, std::string& reply) {
  auto regno = parse_hex_u64(args);
  if (!regno) return fail(Errc::kInvalid, "qRegisterInfo: bad number");
  if (*regno >= kRegisterCount) return fail(Errc::kNoRegister, "qRegisterInfo: past the end");
  const RegisterDesc& reg = registers()[*regno];
  reply = "name:" + std::string(reg.name) + ";bitsize:" + std::to_string(reg.bitsize) +
          ";offset:" + std::to_string(reg.offset) + ";";
  reply += reg.encoding == RegEncoding::kVector ? "encoding:vector;format:vector-uint8;"
                                                : "encoding:uint;format:hex;";
  reply += "set:" + std::string(reg.set) + ";";
  if (reg.dwarf >= 0) {
    reply += "gcc:" + std::to_string(reg.dwarf) + ";dwarf:" + std::to_string(reg.dwarf) + ";";
  }
  if (!reg.generic.empty()) reply += "generic:" + std::string(reg.generic) + ";";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_thread_suffix_supported(std::string_view,
                                                              std::string& reply) {
  thread_suffix_ = true;
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_list_threads_in_stop_reply(std::string_view,
                                                                 std::string& reply) {
  list_threads_in_stop_ = true;
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_q_memory_region_info(std::string_view args,
                                                           std::string& reply) {
  std::vector<MemoryRegion> regions = target_.memory_regions();
  if (regions.empty()) return Outcome{};  // not offered
  auto address = parse_hex_u64(args);
  if (!address) return fail(Errc::kInvalid, "qMemoryRegionInfo: bad address");
  uint64_t next_start = ~uint64_t{0};
  for (const MemoryRegion& region : regions) {
    if (*address >= region.start && *address - region.start < region.size) {
      reply = "start:";
      append_hex_u64(reply, region.start);
      reply += ";size:";
      append_hex_u64(reply, region.size);
      reply += ";permissions:";
      if (region.readable) reply += "r";
      if (region.writable) reply += "w";
      if (region.executable) reply += "x";
      reply += ";";
      if (!region.name.empty()) {
        reply += "name:";
        append_hex_bytes(reply, region.name);
        reply += ";";
      }
      return Outcome{};
    }
    if (region.start > *address) next_start = std::min(next_start, region.start);
  }
  // Unmapped: the gap up to the next region, without permissions (lldb's convention).
  reply = "start:";
  append_hex_u64(reply, *address);
  reply += ";size:";
  append_hex_u64(reply, next_start - *address);
  reply += ";";
  return Outcome{};
}

}  // namespace hlrr::rsp
