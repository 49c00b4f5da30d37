// rsp::Target: what the GDB remote server debugs. Implemented by the live VM target (vmm/) and
// the replay target (replay/); the server never knows which one it talks to. No Asio here.
//
// Threading contract
// ------------------
// * Under the server, every method is called on its one target thread (rsp/target_thread.h),
//   never concurrently, while the server's I/O thread keeps reading the socket.
// * A resume is interrupted through its `std::stop_token`: when the client sends 0x03 (or
//   disconnects, or the server is stopped) the I/O thread calls `request_stop()` on the token's
//   source. A target either polls `token.stop_requested()` in its run loop (replay), or registers
//   a `std::stop_callback` that kicks its vCPU (live VM: uc_emu_stop, KVM immediate_exit). Such a
//   callback runs on the I/O thread (or at once, on the target thread, if stop was already
//   requested when it was registered), so it must be thread-safe; it must not block. Once stop is
//   requested, resume() must return promptly with `StopInfo::interrupted()` (SIGINT), or with
//   whatever real stop happened first.
// * A target must not assume a stop request outlives its resume(): tokens are per resume, so a
//   late 0x03 never leaks into the next resume.
// * No other method is called while a resume is in progress. When resume() returns, the target
//   is stopped and the server may call anything again.
#pragma once

#include <cstdint>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "rsp/registers.h"

namespace hlrr::rsp {

// POSIX signal numbers as gdb's remote protocol uses them (T/S/X stop replies).
enum Signal : uint8_t {
  kSigInt = 2,
  kSigIll = 4,
  kSigTrap = 5,
  kSigFpe = 8,
  kSigKill = 9,
  kSigSegv = 11,
};

// Why the target stopped (or ended): becomes the stop reply (`T05...`, `W00`, `X0b`).
struct StopInfo {
  enum class Kind : uint8_t {
    kSignal,       // plain stop with `signal` (step done, interrupt, fault)
    kSwBreak,      // software breakpoint hit (SIGTRAP), reported as `swbreak:`
    kHwBreak,      // hardware breakpoint hit, `hwbreak:`
    kWatch,        // write watchpoint at `address`, `watch:ADDR`
    kRWatch,       // read watchpoint, `rwatch:ADDR`
    kAWatch,       // access watchpoint, `awatch:ADDR`
    kReplayBegin,  // reverse execution reached the start of the recording, `replaylog:begin`
    kReplayEnd,    // forward replay reached the end of the recording, `replaylog:end`
    kExited,       // the guest finished with `exit_code` (`Wxx`): the session ends
    kTerminated,   // the guest was ended by `signal` (`Xxx`): the session ends
  };
  Kind kind = Kind::kSignal;
  uint8_t signal = kSigTrap;
  uint64_t address = 0;  // watchpoint data address
  uint8_t exit_code = 0;
  // Text for the client's console, sent (`O` packets) before the stop reply: why the target
  // stopped when the signal alone cannot say (a replay divergence). Empty for most stops.
  std::string message;

  static StopInfo stopped(uint8_t sig = kSigTrap) { return {Kind::kSignal, sig, 0, 0, {}}; }
  static StopInfo interrupted() { return stopped(kSigInt); }
  static StopInfo fault(uint8_t sig) { return stopped(sig); }
  static StopInfo sw_break() { return {Kind::kSwBreak, kSigTrap, 0, 0, {}}; }
  static StopInfo hw_break() { return {Kind::kHwBreak, kSigTrap, 0, 0, {}}; }
  static StopInfo watch(Kind kind, uint64_t addr) { return {kind, kSigTrap, addr, 0, {}}; }
  static StopInfo replay_begin() { return {Kind::kReplayBegin, kSigTrap, 0, 0, {}}; }
  static StopInfo replay_end() { return {Kind::kReplayEnd, kSigTrap, 0, 0, {}}; }
  static StopInfo exited(uint8_t code) { return {Kind::kExited, 0, 0, code, {}}; }
  static StopInfo terminated(uint8_t sig) { return {Kind::kTerminated, sig, 0, 0, {}}; }

  // True when the target has ended (exited or terminated): no further resume is possible.
  bool is_final() const { return kind == Kind::kExited || kind == Kind::kTerminated; }
  bool operator==(const StopInfo&) const = default;
};

// The Z/z packet types, numbered as on the wire (Z0..Z4).
enum class BreakpointKind : uint8_t {
  kSoftware = 0,
  kHardware = 1,
  kWriteWatch = 2,
  kReadWatch = 3,
  kAccessWatch = 4,
};

enum class ResumeAction : uint8_t { kContinue, kStep };

// A region of guest memory, for lldb's qMemoryRegionInfo.
struct MemoryRegion {
  uint64_t start = 0;
  uint64_t size = 0;
  bool readable = true;
  bool writable = true;
  bool executable = true;
  std::string name;  // e.g. "text", "stack"; may be empty
};

// Optional extension: reverse execution (replay targets). Threading as Target::resume().
class ReverseExecution {
 public:
  virtual ~ReverseExecution() = default;
  // Steps one instruction backwards; at the start of the recording returns replay_begin().
  virtual StopInfo reverse_step(std::stop_token stop) = 0;
  // Runs backwards to the previous breakpoint/watchpoint hit, or to the start (replay_begin()).
  virtual StopInfo reverse_continue(std::stop_token stop) = 0;
};

// Optional extension: `monitor` commands (qRcmd). `monitor help` is built into the server and
// lists commands().
class MonitorCommands {
 public:
  struct Command {
    std::string name;
    std::string help;  // one line
  };
  virtual ~MonitorCommands() = default;
  virtual std::vector<Command> commands() const = 0;
  // Runs one command line (e.g. "seek 42"); returns the text to print, or an error message.
  virtual base::Expected<std::string> run(std::string_view command_line) = 0;
};

// The debugged machine: one thread, x86-64, registers in gdb's numbering (rsp/registers.h).
// Failures are base::Error values; the server turns them into `E xx` replies.
class Target {
 public:
  virtual ~Target() = default;

  // --- Required ---
  virtual base::Status read_registers(RegisterFile& out) = 0;
  virtual base::Status write_registers(const RegisterFile& in) = 0;
  virtual base::Status read_memory(uint64_t address, std::span<uint8_t> out) = 0;
  virtual base::Status write_memory(uint64_t address, std::span<const uint8_t> data) = 0;

  // Runs forward (continue or one instruction) until a stop. Blocking; runs on the server's
  // target thread (rsp/target_thread.h); interrupted through `stop` (see the threading contract
  // above).
  virtual StopInfo resume(ResumeAction action, std::stop_token stop) = 0;

  // Breakpoints and watchpoints. `length` is the kind for Z0/Z1 (1 on x86) and the byte length
  // for watchpoints. Only kinds for which supports_breakpoint() is true are ever passed.
  virtual base::Status insert_breakpoint(BreakpointKind kind, uint64_t address,
                                         uint64_t length) = 0;
  virtual base::Status remove_breakpoint(BreakpointKind kind, uint64_t address,
                                         uint64_t length) = 0;

  // The client asked to kill the guest (k / vKill); the session ends afterwards.
  virtual base::Status kill() = 0;
  // The client detached (D): the target may run on freely; the session ends afterwards.
  virtual base::Status detach() = 0;

  // --- Optional, with defaults ---
  // One register (gdb number); default: via read_registers()/write_registers().
  virtual base::Status read_register(int regno, std::span<uint8_t> out);
  virtual base::Status write_register(int regno, std::span<const uint8_t> value);

  // Which Z packet types the target implements; others get the empty reply ("unsupported").
  virtual bool supports_breakpoint(BreakpointKind kind) const;

  // Why the target is stopped when a client connects (the `?` packet before any resume).
  virtual StopInfo initial_stop() const { return StopInfo::stopped(kSigTrap); }

  // Absolute path of the guest executable for qXfer:exec-file:read ("" = not offered). gdb
  // opens it on the host, unless the target also offers its bytes: then gdb (sysroot
  // "target:", its default) reads them over vFile, so no file need exist on the host. A
  // relative name is never asked for over vFile: gdb looks it up in its own directory.
  virtual std::string exec_file_path() const { return {}; }
  // The executable's bytes ({} = only the path is offered). Must stay valid while served.
  virtual std::span<const uint8_t> exec_file_bytes() const { return {}; }

  // Guest memory map for qMemoryRegionInfo (empty = not offered).
  virtual std::vector<MemoryRegion> memory_regions() const { return {}; }

  // Extensions (gdbstub style): nullptr when the target doesn't offer them. qSupported is
  // derived from these.
  virtual ReverseExecution* reverse() { return nullptr; }
  virtual MonitorCommands* monitor() { return nullptr; }
};

}  // namespace hlrr::rsp
