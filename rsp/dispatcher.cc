#include "rsp/dispatcher.h"

#include <algorithm>
#include <array>

#include "rsp/hex.h"
#include "rsp/packet_codec.h"
#include "rsp/target_description.h"
#include "rsp/thread_id.h"

namespace hlrr::rsp {
namespace {

// W/X's ";process:pid" (multiprocess extension).
void append_process(std::string& reply) {
  reply += ";process:";
  append_hex_u64(reply, kGuestPid);
}

}  // namespace

// The packet table: names starting with q/Q/v/j/_ match whole names (followed by the end or
// one of `:,;`); everything else matches on its first letter. Order matters only for names
// that prefix each other (vCont? before vCont).
const Dispatcher::Entry Dispatcher::kTable[] = {
    {"qSupported", &Dispatcher::handle_q_supported, false},
    {"QStartNoAckMode", &Dispatcher::handle_start_no_ack_mode, false},
    {"qXfer:features:read", &Dispatcher::handle_q_xfer_features, false},
    {"qXfer:exec-file:read", &Dispatcher::handle_q_xfer_exec_file, false},
    {"qC", &Dispatcher::handle_q_c, false},
    {"qfThreadInfo", &Dispatcher::handle_q_f_thread_info, false},
    {"qsThreadInfo", &Dispatcher::handle_q_s_thread_info, false},
    {"qAttached", &Dispatcher::handle_q_attached, false},
    {"qRcmd", &Dispatcher::handle_q_rcmd, false},
    {"qOffsets", &Dispatcher::handle_q_offsets, false},
    {"qSymbol", &Dispatcher::handle_q_symbol, false},
    {"vMustReplyEmpty", &Dispatcher::handle_empty, false},
    {"qTStatus", &Dispatcher::handle_empty, false},
    {"qHostInfo", &Dispatcher::handle_q_host_info, false},
    {"qProcessInfo", &Dispatcher::handle_q_process_info, false},
    {"qRegisterInfo", &Dispatcher::handle_q_register_info, true},
    {"QThreadSuffixSupported", &Dispatcher::handle_thread_suffix_supported, false},
    {"QListThreadsInStopReply", &Dispatcher::handle_list_threads_in_stop_reply, false},
    {"qMemoryRegionInfo", &Dispatcher::handle_q_memory_region_info, false},
    {"vCont?", &Dispatcher::handle_v_cont_query, false},
    {"vCont", &Dispatcher::handle_v_cont, false},
    {"vKill", &Dispatcher::handle_v_kill, false},
    {"vFile", &Dispatcher::handle_v_file, false},
    {"?", &Dispatcher::handle_stop_reason, false},
    {"g", &Dispatcher::handle_read_registers, false},
    {"G", &Dispatcher::handle_write_registers, false},
    {"p", &Dispatcher::handle_read_register, false},
    {"P", &Dispatcher::handle_write_register, false},
    {"m", &Dispatcher::handle_read_memory, false},
    {"M", &Dispatcher::handle_write_memory, false},
    {"X", &Dispatcher::handle_write_memory_binary, false},
    {"c", &Dispatcher::handle_continue, false},
    {"s", &Dispatcher::handle_step, false},
    {"C", &Dispatcher::handle_continue_signal, false},
    {"S", &Dispatcher::handle_step_signal, false},
    {"Z", &Dispatcher::handle_insert_breakpoint, false},
    {"z", &Dispatcher::handle_remove_breakpoint, false},
    {"H", &Dispatcher::handle_set_thread, false},
    {"T", &Dispatcher::handle_thread_alive, false},
    {"D", &Dispatcher::handle_detach, false},
    {"k", &Dispatcher::handle_kill, false},
    {"b", &Dispatcher::handle_backward, false},
};

Dispatcher::Dispatcher(Target& target)
    : target_(target),
      last_stop_(target.initial_stop()),
      host_io_(target, kGuestPid, kMaxReadLength) {}

void Dispatcher::error_reply(Errc code, std::string& reply) {
  reply.clear();
  reply.push_back('E');
  append_hex_u8(reply, static_cast<uint8_t>(code));
}

Dispatcher::Outcome Dispatcher::handle(std::string_view packet, std::string& reply,
                                       std::string& console) {
  reply.clear();
  last_error_.clear();
  console_ = &console;
  if (packet.empty()) return {};  // `$#00`: answer empty
  const Entry* found = nullptr;
  std::string_view args;
  const bool named = std::string_view("qQvj_").find(packet[0]) != std::string_view::npos;
  for (const Entry& entry : kTable) {
    if (named != (entry.name.size() > 1)) continue;
    if (!named) {
      if (packet[0] != entry.name[0]) continue;
      args = packet.substr(1);
    } else {
      if (!packet.starts_with(entry.name)) continue;
      std::string_view rest = packet.substr(entry.name.size());
      if (!entry.prefix_only && !rest.empty()) {
        if (std::string_view(":,;").find(rest[0]) == std::string_view::npos) continue;
        rest.remove_prefix(1);
      }
      args = rest;
    }
    found = &entry;
    break;
  }
  // Unknown packets get the empty reply (never OK: lldb and gdb probe with them).
  if (found == nullptr) return {};
  Result result = (this->*found->handler)(args, reply);
  console_ = nullptr;
  if (!result) {
    // The single place where errors become wire replies.
    error_reply(result.error().code, reply);
    return {};
  }
  return std::move(result).value();
}

Dispatcher::Result Dispatcher::fail(Errc code, std::string why) {
  last_error_ = std::move(why);
  return base::Unexpected<WireError>(WireError{code});
}

Dispatcher::Result Dispatcher::target_failed(const base::Error& error, Errc code) {
  return fail(code, error.message);
}

void Dispatcher::stop_reply(const StopInfo& stop, std::string& reply) {
  last_stop_ = stop;
  reply.clear();
  if (stop.kind == StopInfo::Kind::kExited) {
    reply.push_back('W');
    append_hex_u8(reply, stop.exit_code);
    if (multiprocess_) append_process(reply);
    return;
  }
  if (stop.kind == StopInfo::Kind::kTerminated) {
    reply.push_back('X');
    append_hex_u8(reply, stop.signal);
    if (multiprocess_) append_process(reply);
    return;
  }
  reply.push_back('T');
  append_hex_u8(reply, stop.signal);
  // Expedite rbp, rsp, rip so the client needs no `g` to show where we are.
  RegisterFile regs{};
  const bool have_regs = target_.read_registers(regs).has_value();
  if (have_regs) {
    for (int regno : {kRbp, kRsp, kRip}) {
      append_hex_u8(reply, static_cast<uint8_t>(regno));
      reply.push_back(':');
      append_hex_bytes(reply, std::span<const uint8_t>(regs.data() + registers()[regno].offset, 8));
      reply.push_back(';');
    }
  }
  // "01" is what we always sent without the extension; clients parse it as hex either way.
  reply += multiprocess_ ? "thread:" + our_thread_id(true) + ";" : std::string("thread:01;");
  if (list_threads_in_stop_) {
    reply += "threads:" + our_thread_id(multiprocess_) + ";";
    if (have_regs) {
      reply += "thread-pcs:";
      append_hex_u64(reply, get_register(regs, kRip));
      reply += ";";
    }
  }
  auto watch = [&](const char* key) {
    reply += key;
    append_hex_u64(reply, stop.address);
    reply += ";";
  };
  switch (stop.kind) {
    // Only to a client that asked for them: to others they are unknown stop reasons.
    case StopInfo::Kind::kSwBreak:
      if (client_swbreak_) reply += "swbreak:;";
      break;
    case StopInfo::Kind::kHwBreak:
      if (client_hwbreak_) reply += "hwbreak:;";
      break;
    case StopInfo::Kind::kWatch:
      watch("watch:");
      break;
    case StopInfo::Kind::kRWatch:
      watch("rwatch:");
      break;
    case StopInfo::Kind::kAWatch:
      watch("awatch:");
      break;
    case StopInfo::Kind::kReplayBegin:
      reply += "replaylog:begin;";
      break;
    case StopInfo::Kind::kReplayEnd:
      reply += "replaylog:end;";
      break;
    default:
      break;
  }
}

// --- Handlers ---

Dispatcher::Result Dispatcher::handle_v_cont_query(std::string_view, std::string& reply) {
  reply = "vCont;c;C;s;S";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_v_cont(std::string_view args, std::string&) {
  // vCont;action[:thread](;action[:thread])*: apply the first action that names our thread
  // (or no thread). Signals are not deliverable to a guest; C/S act as c/s.
  while (!args.empty()) {
    std::string_view action = args.substr(0, args.find(';'));
    args = action.size() < args.size() ? args.substr(action.size() + 1) : std::string_view();
    std::string_view thread;
    if (auto parts = split_once(action, ':')) {
      action = parts->first;
      thread = parts->second;
    }
    if (!thread.empty() && !names_our_thread(thread)) continue;
    if (action == "c") return resume(ResumeAction::kContinue, {});
    if (action == "s") return resume(ResumeAction::kStep, {});
    if (action.size() == 3 && action[0] == 'C' && parse_hex_u64(action.substr(1))) {
      return resume(ResumeAction::kContinue, {});
    }
    if (action.size() == 3 && action[0] == 'S' && parse_hex_u64(action.substr(1))) {
      return resume(ResumeAction::kStep, {});
    }
    return fail(Errc::kInvalid, "vCont: unsupported action");
  }
  return fail(Errc::kInvalid, "vCont: no action for our thread");
}

Dispatcher::Result Dispatcher::handle_v_kill(std::string_view args, std::string& reply) {
  // vKill;pid (the table took the ';').
  if (!args.empty() && !names_our_process(args)) {
    return fail(Errc::kInvalid, "vKill: no such process");
  }
  base::Status status = target_.kill();
  if (!status) return target_failed(status.error());
  reply = "OK";
  Outcome outcome;
  outcome.end_session = true;
  return outcome;
}

Dispatcher::Result Dispatcher::handle_stop_reason(std::string_view, std::string& reply) {
  stop_reply(last_stop_, reply);
  return Outcome{};
}

Dispatcher::Result Dispatcher::resume(ResumeAction action, std::string_view address) {
  if (last_stop_.is_final()) return fail(Errc::kTarget, "the target has ended");
  if (!address.empty()) {
    auto rip = parse_hex_u64(address);
    if (!rip) return fail(Errc::kInvalid, "resume: bad address");
    std::array<uint8_t, 8> bytes;
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(*rip >> (8 * i));
    base::Status status = target_.write_register(kRip, bytes);
    if (!status) return target_failed(status.error());
  }
  Outcome outcome;
  outcome.kind = Outcome::Kind::kResume;
  outcome.job = [&target = target_, action](std::stop_token stop) {
    return target.resume(action, std::move(stop));
  };
  return outcome;
}

Dispatcher::Result Dispatcher::handle_continue(std::string_view args, std::string&) {
  return resume(ResumeAction::kContinue, args);
}

Dispatcher::Result Dispatcher::handle_step(std::string_view args, std::string&) {
  return resume(ResumeAction::kStep, args);
}

Dispatcher::Result Dispatcher::handle_continue_signal(std::string_view args, std::string&) {
  // Csig[;addr]: the signal cannot be delivered to a guest and is dropped.
  auto parts = split_once(args, ';');
  std::string_view signal = parts ? parts->first : args;
  if (!parse_hex_u64(signal)) return fail(Errc::kInvalid, "C: bad signal");
  return resume(ResumeAction::kContinue, parts ? parts->second : std::string_view());
}

Dispatcher::Result Dispatcher::handle_step_signal(std::string_view args, std::string&) {
  auto parts = split_once(args, ';');
  std::string_view signal = parts ? parts->first : args;
  if (!parse_hex_u64(signal)) return fail(Errc::kInvalid, "S: bad signal");
  return resume(ResumeAction::kStep, parts ? parts->second : std::string_view());
}

Dispatcher::Result Dispatcher::breakpoint(std::string_view args, bool insert, std::string& reply) {
  // type,addr,kind[;cond...]: conditions and commands are not supported and ignored.
  args = args.substr(0, args.find(';'));
  auto type_rest = split_once(args, ',');
  if (!type_rest || type_rest->first.size() != 1) return fail(Errc::kInvalid, "Z: bad type");
  int type = type_rest->first[0] - '0';
  auto range = parse_address_length(type_rest->second);
  if (type < 0 || type > 4 || !range) return fail(Errc::kInvalid, "Z: bad arguments");
  auto kind = static_cast<BreakpointKind>(type);
  if (!target_.supports_breakpoint(kind)) return Outcome{};  // unsupported: empty reply
  base::Status status = insert ? target_.insert_breakpoint(kind, range->first, range->second)
                               : target_.remove_breakpoint(kind, range->first, range->second);
  if (!status) return target_failed(status.error());
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_insert_breakpoint(std::string_view args, std::string& reply) {
  return breakpoint(args, true, reply);
}

Dispatcher::Result Dispatcher::handle_remove_breakpoint(std::string_view args, std::string& reply) {
  return breakpoint(args, false, reply);
}

Dispatcher::Result Dispatcher::handle_set_thread(std::string_view args, std::string& reply) {
  // Hg<id> / Hc<id>: there is one thread.
  if (args.empty() || (args[0] != 'g' && args[0] != 'c')) return fail(Errc::kInvalid, "H: op");
  if (!names_our_thread(args.substr(1))) return fail(Errc::kInvalid, "H: no such thread");
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_thread_alive(std::string_view args, std::string& reply) {
  if (!names_our_thread(args)) return fail(Errc::kInvalid, "T: no such thread");
  reply = "OK";
  return Outcome{};
}

Dispatcher::Result Dispatcher::handle_detach(std::string_view args, std::string& reply) {
  // D, or D;pid with the multiprocess extension.
  if (!args.empty() && (args[0] != ';' || !names_our_process(args.substr(1)))) {
    return fail(Errc::kInvalid, "D: no such process");
  }
  base::Status status = target_.detach();
  if (!status) return target_failed(status.error());
  reply = "OK";
  Outcome outcome;
  outcome.end_session = true;
  return outcome;
}

Dispatcher::Result Dispatcher::handle_kill(std::string_view, std::string& reply) {
  // gdb expects no reply to `k` (and ignores one); lldb waits for the exit status. The session
  // ends whether or not the target managed.
  (void)target_.kill();
  reply = "X09";
  Outcome outcome;
  outcome.end_session = true;
  return outcome;
}

Dispatcher::Result Dispatcher::handle_backward(std::string_view args, std::string&) {
  ReverseExecution* reverse = target_.reverse();
  if (reverse == nullptr || (args != "s" && args != "c")) return Outcome{};  // unsupported
  if (last_stop_.is_final()) return fail(Errc::kTarget, "the target has ended");
  Outcome outcome;
  outcome.kind = Outcome::Kind::kResume;
  const bool step = args == "s";
  outcome.job = [reverse, step](std::stop_token stop) {
    return step ? reverse->reverse_step(std::move(stop))
                : reverse->reverse_continue(std::move(stop));
  };
  return outcome;
}

}  // namespace hlrr::rsp

namespace hlrr::rsp {

// vFile (host I/O): rsp/host_io.h. /proc files only to a client that knows our pid.
Dispatcher::Result Dispatcher::handle_v_file(std::string_view args, std::string& reply) {
  if (!host_io_.handle(args, multiprocess_, reply)) reply.clear();
  return Outcome{};
}

}  // namespace hlrr::rsp
