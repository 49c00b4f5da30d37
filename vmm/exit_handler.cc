#include "vmm/exit_handler.h"

#include <cstdio>

#include "base/hex.h"
#include "hl_abi.h"
#include "vmm/guest_messages.h"

namespace hlrr::vmm {
namespace {

using base::hex;

Fault make_fault(FaultKind kind, std::string message = {}) {
  Fault f;
  f.kind = kind;
  f.message = std::move(message);
  return f;
}

}  // namespace

Fault fault_for_exception(const VcpuExit& exit) {
  Fault f;
  f.vector = exit.vector;
  switch (exit.vector) {
    case kPageFault:
      f.kind = FaultKind::kPageFault;
      break;
    case kGeneralProtection:
      f.kind = FaultKind::kGeneralProtection;
      break;
    case kInvalidOpcode:
      f.kind = FaultKind::kInvalidOpcode;
      break;
    case kDivideError:
      f.kind = FaultKind::kDivideError;
      break;
    case kDoubleFault:
      f.kind = FaultKind::kTripleFault;
      break;
    default:
      f.kind = FaultKind::kOtherException;
      break;
  }
  f.has_address = exit.has_address;
  f.address = exit.address;
  return f;
}

ExitAction ExitHandler::handle(const VcpuExit& exit, bool stop_is_timeout) {
  switch (exit.kind) {
    case ExitKind::kIoOut:
      if (exit.port == HL_PORT_HOST_CALL) return host_call();
      if (exit.port == HL_PORT_PANIC) return panic();
      return ExitAction::fail(
          make_fault(FaultKind::kBadIo, "out to unknown port " + hex(exit.port)));
    case ExitKind::kIoIn:
      return ExitAction::fail(
          make_fault(FaultKind::kBadIo, "in from unknown port " + hex(exit.port)));
    case ExitKind::kHalt:
      return halted();
    case ExitKind::kException:
      return ExitAction::fail(fault_for_exception(exit));
    case ExitKind::kOutOfBounds: {
      Fault f = make_fault(FaultKind::kOutOfBounds);
      f.has_address = true;
      f.address = exit.address;
      return ExitAction::fail(std::move(f));
    }
    case ExitKind::kStopped:
      return ExitAction::fail(
          make_fault(stop_is_timeout ? FaultKind::kTimeout : FaultKind::kInternal,
                     stop_is_timeout ? "" : "stopped"));
    case ExitKind::kShutdown:
      return ExitAction::fail(make_fault(FaultKind::kTripleFault));
    case ExitKind::kUnsupported:
      return ExitAction::fail(make_fault(FaultKind::kUnsupportedInstruction, exit.detail));
    case ExitKind::kDebug:
    case ExitKind::kInstructionLimit:
    case ExitKind::kInternalError:
    case ExitKind::kNondet:  // supplied by the exit loop (Sandbox), which owns the vCPU
      break;
  }
  return ExitAction::fail(make_fault(
      FaultKind::kInternal,
      exit.detail.empty() ? std::string("unexpected exit: ") + to_string(exit.kind) : exit.detail));
}

ExitAction ExitHandler::host_call() {
  auto request = read_message(memory_, HL_OUT_AREA);
  if (!request) {
    return ExitAction::fail(
        make_fault(FaultKind::kBadHostCall, "host call: " + request.error().message));
  }
  if (request->kind != HL_MSG_CALL) {
    return ExitAction::fail(make_fault(FaultKind::kBadHostCall, "host call: not a call message"));
  }
  auto result = host_functions_.call(request->name, request->args);
  if (!result) return ExitAction::fail(make_fault(FaultKind::kBadHostCall, result.error().message));
  const Value values[] = {std::move(*result)};
  if (auto st = write_message(memory_, HL_REPLY_AREA, HL_AREA_SIZE, HL_MSG_RESULT, "", values);
      !st) {
    return ExitAction::fail(make_fault(
        FaultKind::kBadHostCall, "host function '" + request->name + "': " + st.error().message));
  }
  return ExitAction::resume();
}

ExitAction ExitHandler::panic() {
  auto msg = read_message(memory_, HL_OUT_AREA);
  std::string text = "(no message)";
  if (msg && msg->kind == HL_MSG_PANIC && !msg->args.empty()) {
    if (auto* s = std::get_if<std::string>(&msg->args[0])) text = *s;
  } else if (!msg) {
    text = "(unreadable message: " + msg.error().message + ")";
  }
  return ExitAction::fail(make_fault(FaultKind::kPanic, text));
}

ExitAction ExitHandler::halted() {
  auto msg = read_message(memory_, HL_OUT_AREA);
  if (!msg)
    return ExitAction::fail(make_fault(FaultKind::kGuestError,
                                       "guest halted without a result: " + msg.error().message));
  switch (msg->kind) {
    case HL_MSG_RESULT:
    case HL_MSG_READY:
      if (msg->args.empty()) return ExitAction::finish(std::monostate{});
      return ExitAction::finish(std::move(msg->args[0]));
    case HL_MSG_ERROR: {
      const auto* s = msg->args.empty() ? nullptr : std::get_if<std::string>(&msg->args[0]);
      return ExitAction::fail(make_fault(FaultKind::kGuestError, s ? *s : "unknown guest error"));
    }
    default:
      return ExitAction::fail(make_fault(FaultKind::kGuestError, "guest halted without a result"));
  }
}

}  // namespace hlrr::vmm
