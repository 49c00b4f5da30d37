// FlightRecorder: records every guest call of a sandbox into a bounded in-memory buffer, and
// writes a call out as one self-contained trace only when it matters: when it faults, panics or
// times out, or when the host, having looked at its result, says so (keep_last_call()). Other
// calls are dropped. docs/recording.md ("Flight recorder") has the details.
//
//   auto sandbox = vmm::Sandbox::create(std::move(image), config);   // initialised, idle
//   auto flight = recorder::flight_record(**sandbox, {.directory = "crashes",
//                                                     .guest_name = "app.elf",
//                                                     .calls_before = 2});
//   for (...) {
//     auto result = (*sandbox)->call("handle", args);        // a fault is kept by itself
//     if (result && looks_wrong(*result)) (*flight)->keep_last_call("wrong answer");
//   }
//
// A kept trace starts at the start of its first call (the kept call, or the `calls_before`
// calls before it): Setup holds guest memory and registers as they were there, so replay needs
// nothing else; instruction counts and exit numbers count from that start. It is written
// atomically (temporary file, fsync, rename), so a crash of the host loses at most the calls not
// yet kept. Memory: a copy of guest memory (the state at the current call's start, brought up to
// date at each call from the sandbox's dirty-page log) plus at most `max_buffer_bytes` of
// buffered calls. Everything runs on the thread that drives the sandbox, which must outlive the
// recorder.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"
#include "recorder/buffered_call.h"
#include "trace_format/records.h"
#include "trace_format/trace_writer.h"
#include "vmm/exit_observer.h"
#include "vmm/sandbox.h"

namespace hlrr::recorder {

struct FlightOptions {
  std::string directory;             // where kept traces go (created if missing)
  std::string guest_name = "guest";  // stored in Setup, and the start of each kept file's name
  uint64_t calls_before = 0;         // K: calls before the kept one that its trace also holds
  // Bound on the buffered calls (their records and the pages needed to go back to the first of
  // them). Older calls are dropped first; a call that alone outgrows it cannot be kept.
  uint64_t max_buffer_bytes = 64ull << 20;
  trace::WriterOptions writer;
  // Told one line per kept trace (or failure to keep one): hlrun prints them.
  std::function<void(const std::string&)> notice;
};

struct KeptTrace {
  std::string path;
  uint64_t first_call = 0;  // calls numbered from 1 since the recorder started
  uint64_t last_call = 0;   // the kept call
  std::string reason;       // the fault, or the host's reason
};

class FlightRecorder final : public vmm::ExitObserver {
 public:
  ~FlightRecorder() override;  // detaches from the sandbox; buffered calls are dropped
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  // Keeps the last call that ended (and the calls_before before it): for a call that returned
  // something the host judged wrong. Between calls only.
  base::Expected<KeptTrace> keep_last_call(const std::string& reason);

  const std::vector<KeptTrace>& kept() const { return kept_; }
  // The first failure to keep a faulting call's trace (a full disk, a call too large), if any.
  const base::Status& error() const { return error_; }
  uint64_t calls_seen() const { return calls_seen_; }
  // The buffer's own accounting: bytes of buffered records and saved pages now, and at most ever.
  uint64_t buffered_bytes() const { return buffered_bytes_; }
  uint64_t peak_buffered_bytes() const { return peak_bytes_; }
  uint64_t max_buffer_bytes() const { return options_.max_buffer_bytes; }
  // The fixed part beside the buffer: a copy of guest memory.
  uint64_t shadow_bytes() const { return shadow_.size(); }

  // vmm::ExitObserver
  void on_call_start(std::string_view function, std::span<const vmm::Value> args,
                     const vmm::RegisterFile& registers,
                     std::span<const vmm::HostWrite> writes) override;
  void on_exit(const vmm::VcpuExit& exit, const vmm::RegisterFile& registers,
               std::span<const vmm::HostWrite> writes) override;
  void on_nondet(vmm::NondetInstruction kind, uint64_t rip, uint64_t value,
                 uint64_t extra) override;
  void on_call_end(const base::Expected<vmm::Value, vmm::Fault>& result) override;
  // Refuses every debugger write: a buffered call could not replay it.
  base::Status on_debugger_write(const vmm::HostWrite* write) override;

 private:
  friend base::Expected<std::unique_ptr<FlightRecorder>> flight_record(vmm::Sandbox&,
                                                                       FlightOptions);
  FlightRecorder(vmm::Sandbox& sandbox, FlightOptions options);
  void append(trace::Record record, std::span<const vmm::HostWrite> writes = {});
  void drop_oldest();
  void recycle(BufferedCall&& call);
  BufferedCall take_spare();
  void retire_current(std::vector<uint64_t>& changed);
  void trim_history();
  void account(int64_t delta);
  base::Expected<KeptTrace> keep(const std::string& reason, trace::End end);
  std::vector<trace::Record> window_records(std::span<const uint8_t> start_memory) const;
  uint64_t instruction_count();

  vmm::Sandbox& sandbox_;
  FlightOptions options_;
  std::vector<uint8_t> shadow_;  // guest memory at the start of current_
  // Calls are recorded as BufferedCalls (exit sequences and instruction counts the sandbox's; a
  // kept trace renumbers them from its first call), reused through spare_ rather than freed.
  std::deque<BufferedCall> history_;  // ended calls before current_, oldest first (<= K)
  std::optional<BufferedCall> current_;
  std::vector<BufferedCall> spare_;
  std::optional<trace::Exit> pending_stop_;  // a kStopped exit: a timeout if the call ends so
  std::vector<uint64_t> scratch_pages_;
  vmm::DirtyPageLog::Cursor dirty_;  // pages written since the previous take
  void take_dirty_pages();           // appends to scratch_pages_; a failure becomes error()
  std::vector<KeptTrace> kept_;
  base::Status error_;
  uint64_t calls_seen_ = 0;
  uint64_t exits_seen_ = 0;
  uint64_t buffered_bytes_ = 0;
  uint64_t peak_bytes_ = 0;
  bool memory_moved_on_ = false;  // keep_last_call() after the host changed memory
};

// Starts a flight recorder on `sandbox`, which must be initialised and idle between calls;
// attaches it as the sandbox's exit observer. Creates options.directory if missing. Errors are
// one line.
base::Expected<std::unique_ptr<FlightRecorder>> flight_record(vmm::Sandbox& sandbox,
                                                              FlightOptions options);

}  // namespace hlrr::recorder
