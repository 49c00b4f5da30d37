// Sandbox: a guest ELF running in its own micro-VM, embeddable in any C++ host program.
//
//   #include "vmm/sandbox.h"
//   using namespace hlrr::vmm;
//
//   SandboxConfig config;
//   config.host_functions.add("clock_ns", {{}, ValueType::kI64},
//                             [](auto) -> base::Expected<Value> { return int64_t{42}; });
//   auto sandbox = Sandbox::create_from_file("hello.elf", config);   // boots: runs hl_main()
//   if (!sandbox) die(sandbox.error().message);
//   auto snapshot = (*sandbox)->snapshot();                          // clean, initialised state
//   auto result = (*sandbox)->call("greet", {Value{std::string("world")}});
//   if (!result) die(result.error().to_string());                    // "#PF at ... in f+0x4 ..."
//   (*sandbox)->restore(snapshot);                                   // next call starts clean
//
// One thread drives a sandbox. Guest calls run to completion (or fault, or time out); guest
// state (globals, heap) persists between calls until restore().
//
// Debuggers drive the same exit loop one step at a time: load() (stopped at the ELF entry),
// begin_call(), then resume() until the call returns or faults; resume() also returns when the
// vCPU pauses for the caller (a single step, a breakpoint, an interrupt), and host calls in
// between are served as usual.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "vmm/elf_image.h"
#include "vmm/exit_observer.h"
#include "vmm/fault.h"
#include "vmm/guest_memory.h"
#include "vmm/host_functions.h"
#include "vmm/register_file.h"
#include "vmm/value.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_factory.h"

namespace hlrr::vmm {

class ExitHandler;
class Watchdog;

struct SandboxConfig {
  uint64_t memory_size = 4 << 20;
  // Limit for each guest call (and for initialisation); zero means none.
  std::chrono::milliseconds timeout{10'000};
  // kAuto: KVM where /dev/kvm is usable, the software vCPU elsewhere.
  VcpuKind vcpu = VcpuKind::kAuto;
  // Makes the vCPU the exit loop drives (tests inject a scripted one); empty: create_vcpu()
  // of `vcpu`.
  VcpuFactory vcpu_factory;
  // Functions the guest may call. `print` is added unless present: it writes to `output`.
  HostFunctionTable host_functions;
  // Where the guest's prints go; stdout when empty.
  std::function<void(std::string_view)> output;
};

// The sandbox's state at one moment: registers and memory. Restoring copies back only the
// pages written since this snapshot (from the dirty-page log) when it is the sandbox's latest
// one, and compares every page otherwise. Taking the first snapshot turns on dirty-page tracking
// for good (on the software vCPU it costs ~20% on store-heavy guest code).
class Snapshot {
 public:
  const RegisterFile& registers() const { return registers_; }

 private:
  friend class Sandbox;
  RegisterFile registers_;
  std::vector<uint8_t> memory_;
  uint64_t id_ = 0;
};

// What Sandbox::resume() stopped for.
struct RunOutcome {
  enum class Kind : uint8_t {
    kReturned,  // the call finished with `value`
    kFaulted,   // the call ended with `fault`; the vCPU stays at the faulting state
    kPaused,    // the vCPU paused for the caller (`exit`: kDebug, kStopped by request_stop(),
                // kInstructionLimit); resume() continues the same call
  };
  Kind kind = Kind::kReturned;
  Value value;
  Fault fault;
  VcpuExit exit;
};

class Sandbox {
 public:
  // Loads `image` into a new micro-VM and runs the guest's initialisation (hl_main()).
  static base::Expected<std::unique_ptr<Sandbox>> create(ElfImage image, SandboxConfig config);
  // Loads `image` without running anything: the vCPU is at the ELF entry point, and the
  // initialisation is the first call in progress (resume() runs it; it returns the dispatcher's
  // address, and initialized() becomes true).
  static base::Expected<std::unique_ptr<Sandbox>> load(ElfImage image, SandboxConfig config);
  static base::Expected<std::unique_ptr<Sandbox>> create_from_file(const std::string& path,
                                                                   SandboxConfig config);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Calls guest function `name`. Blocking, on the calling thread.
  base::Expected<Value, Fault> call(std::string_view name, std::span<const Value> args = {});

  // The two halves of call(), for debuggers. begin_call() places the arguments and points the
  // vCPU at the dispatcher; resume() runs until the call returns, faults or pauses.
  base::Status begin_call(std::string_view name, std::span<const Value> args = {});
  RunOutcome resume(const RunOptions& options = {});
  bool initialized() const { return dispatch_address_ != 0; }
  bool call_in_progress() const { return call_in_progress_; }

  // Observes calls and exits from now on (nullptr: none). Not owned.
  void set_exit_observer(ExitObserver* observer) { observer_ = observer; }
  // Whether a debugger may make `write` (nullptr: a register write) now; the exit observer is
  // told of it first (ExitObserver::on_debugger_write()).
  base::Status allow_debugger_write(const HostWrite* write) {
    return observer_ ? observer_->on_debugger_write(write) : base::Status{};
  }

  Snapshot snapshot();
  // Between calls. With an observer attached, the pages it changes are reported as host writes
  // with the next call's start (a recording of a restore replays).
  base::Status restore(const Snapshot& snapshot);

  HostFunctionTable& host_functions() { return config_.host_functions; }
  const SandboxConfig& config() const { return config_; }
  const ElfImage& image() const { return image_; }
  GuestMemory& memory() { return memory_; }
  const GuestMemory& memory() const { return memory_; }
  Vcpu& vcpu() { return *vcpu_; }
  // Where guest calls start: the runtime's dispatcher, reported by the guest at initialisation.
  uint64_t dispatch_address() const { return dispatch_address_; }
  // Guest calls completed, and vCPU exits taken, since creation (stops for non-deterministic
  // instructions are not counted: they are no exits of the call, see ExitObserver::on_nondet).
  uint64_t exit_count() const { return exit_count_; }

  // A cursor of its own on the dirty-page log (GuestMemory::dirty_log()), for a consumer such as
  // a recorder: each take() gives the pages the guest or the host wrote since the previous one
  // (or since this call). Does not disturb snapshot()/restore(). Turns the vCPU's dirty tracking
  // on for good (free on KVM's dirty log; ~20% of store-heavy code on the software vCPU, where a
  // recorder may prefer comparing pages, see recorder/).
  base::Expected<DirtyPageLog::Cursor> track_dirty_pages();

 private:
  Sandbox(ElfImage image, SandboxConfig config, GuestMemory memory);
  base::Status prepare();
  // One turn of resume()'s exit loop: serves `exit`; an outcome when the call ends or pauses.
  std::optional<RunOutcome> serve_exit(const VcpuExit& exit, ExitHandler& handler,
                                       const RunOptions& options);
  RunOutcome end_call(RunOutcome outcome);
  Fault locate(Fault fault);
  // Copies the snapshot's `page` back if it differs, and marks it in the dirty-page log.
  void restore_page(const Snapshot& snapshot, uint64_t page);
  bool is_code_page(uint64_t page) const;
  // Supplies and records a kNondet exit's result (rdtsc & co. on the software vCPU).
  void supply_nondet(const VcpuExit& exit);

  ElfImage image_;
  SandboxConfig config_;
  GuestMemory memory_;
  std::unique_ptr<Vcpu> vcpu_;
  std::unique_ptr<Watchdog> watchdog_;
  uint64_t dispatch_address_ = 0;
  uint64_t exit_count_ = 0;
  bool call_in_progress_ = false;
  bool initialization_unreported_ = false;
  ExitObserver* observer_ = nullptr;
  std::vector<HostWrite> journal_;
  // The snapshot whose changed pages since_snapshot_ holds (0: none, restore compares all).
  uint64_t base_snapshot_id_ = 0;
  uint64_t next_snapshot_id_ = 1;
  DirtyPageLog::Cursor since_snapshot_;
  std::vector<uint64_t> scratch_pages_;
};

}  // namespace hlrr::vmm
