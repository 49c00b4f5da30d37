// How a debugged guest's stops and ends are shown to a debugger client, the same for the live
// and the replay target: the signal of a fault, and a replay divergence as an error stop that
// says why (docs/replay.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "rsp/target.h"
#include "vmm/fault.h"

namespace hlrr::debug {

inline constexpr uint8_t kSigAbrt = 6;
inline constexpr uint8_t kSigSys = 12;  // gdb's numbering (GDB_SIGNAL_SYS), as rsp::Signal
inline constexpr uint8_t kSigAlrm = 14;

// The signal a fault is shown as: SIGSEGV (#PF, #GP, #SS, out of bounds, triple fault), SIGILL
// (#UD, an unsupported instruction), SIGFPE (#DE), SIGALRM (timeout), SIGTRAP (another
// exception), SIGABRT (panic, bad host call or port, refused call, VMM error).
uint8_t signal_for(const vmm::Fault& fault);

// Replay could not follow the recording any more: a SIGABRT stop whose message (sent to the
// client as console output before the stop reply) is "replay diverged: <reason>".
rsp::StopInfo divergence_stop(std::string_view reason);

}  // namespace hlrr::debug
