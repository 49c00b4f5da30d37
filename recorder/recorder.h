// Recorder: records a sandbox's guest calls into a trace file (docs/recording.md says exactly
// what the trace holds and how replay uses each record).
//
//   auto sandbox = vmm::Sandbox::load(image, config);        // or an idle, initialised sandbox
//   auto recording = recorder::record_to(**sandbox, "run.cap", {.guest_name = "chatty.elf"});
//   if (!recording) die(recording.error().message);
//   for (auto& w : (*recording)->warnings()) warn(w);        // rdtsc & co. on KVM
//   (*sandbox)->resume(); (*sandbox)->call("chatter", args);  // recorded
//   auto status = (*recording)->finish();                     // or let the handle go out of scope
//
// The Recorder is the sandbox's ExitObserver while it lives: it turns calls, exits, results of
// non-deterministic instructions and periodic memory deltas into trace records and queues them
// on a trace::TraceWriter (whose thread compresses and writes). It flushes the writer at the end
// of every guest call, so a crash afterwards loses nothing of that call. A call that ends with a
// fault or timeout ends the recording: the trace is finished with that End record and the
// recorder detaches itself. Everything runs on the thread that drives the sandbox; the sandbox
// must outlive the Recorder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"
#include "recorder/page_tracker.h"
#include "trace_format/trace_writer.h"
#include "vmm/exit_observer.h"
#include "vmm/sandbox.h"

namespace hlrr::recorder {

struct RecordOptions {
  std::string guest_name = "guest";  // stored in Setup (hlrun: the ELF's file name)
  // A MemoryDelta (pages dirtied since the previous one) is written after an exit once this many
  // exits, or this many bytes of host writes, were recorded since the previous delta.
  uint64_t delta_every_exits = 4096;
  uint64_t delta_every_bytes = 1 << 20;
  // MemoryDeltas hold each changed page's checksum (16 bytes; replay checks memory with it), not
  // its 4 KiB: a run that writes megabytes records kilobytes. True stores the contents too
  // (hlrun --record-memory): the trace then shows memory at every delta, byte for byte.
  bool memory_contents = false;
  trace::WriterOptions writer;
  // Store the guest's source files named by its DWARF in Setup (embed_sources.h).
  bool embed_sources = false;
  // Told, one line each, what the recording refused (a debugger's write) or left out (a source
  // file it could not embed): hlrun prints them.
  std::function<void(const std::string&)> notice;
};

class Recorder final : public vmm::ExitObserver {
 public:
  // Finishes the trace if finish() was not called, and detaches from the sandbox.
  ~Recorder() override;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Ends the recording: a last MemoryDelta, End{completed} (unless a fault ended it already),
  // the index and footer. Returns the first error the recording met (e.g. disk full), if any.
  // Idempotent.
  base::Status finish();

  // Whether the recording still takes records (false after finish(), a fault, or an error).
  bool active() const { return active_; }
  // KVM recordings of guests with rdtsc/rdtscp/rdrand/rdseed: one line each (see setup.h).
  const std::vector<std::string>& warnings() const { return warnings_; }
  uint64_t exits_recorded() const { return next_exit_; }
  uint64_t calls_recorded() const { return calls_; }
  uint64_t nondet_recorded() const { return nondet_; }

  // vmm::ExitObserver
  void on_call_start(std::string_view function, std::span<const vmm::Value> args,
                     const vmm::RegisterFile& registers,
                     std::span<const vmm::HostWrite> writes) override;
  void on_exit(const vmm::VcpuExit& exit, const vmm::RegisterFile& registers,
               std::span<const vmm::HostWrite> writes) override;
  void on_nondet(vmm::NondetInstruction kind, uint64_t rip, uint64_t value,
                 uint64_t extra) override;
  void on_call_end(const base::Expected<vmm::Value, vmm::Fault>& result) override;
  // Records a memory write as a DebuggerWrite at the instruction count (software vCPU); refuses
  // register writes, and memory writes on KVM, which has no count (docs/recording.md).
  base::Status on_debugger_write(const vmm::HostWrite* write) override;

 private:
  friend base::Expected<std::unique_ptr<Recorder>> record_to(vmm::Sandbox&, const std::string&,
                                                             RecordOptions);
  Recorder(vmm::Sandbox& sandbox, std::unique_ptr<trace::TraceWriter> writer,
           RecordOptions options);
  void append(trace::Record record);
  void hand_over();  // moves batch_ to the writer
  void write_exit(trace::Exit exit, const vmm::RegisterFile& registers,
                  std::span<const vmm::HostWrite> writes);
  void write_memory_delta();
  bool keeps_contents(uint64_t address) const;
  base::Status finish(trace::End end);
  uint64_t instruction_count();

  vmm::Sandbox& sandbox_;
  std::unique_ptr<trace::TraceWriter> writer_;
  RecordOptions options_;
  std::vector<std::string> warnings_;
  bool active_ = true;
  bool on_kvm_ = false;
  base::Status error_;
  uint64_t next_exit_ = 0;
  uint64_t calls_ = 0;
  uint64_t nondet_ = 0;
  uint64_t exits_since_delta_ = 0;
  uint64_t bytes_since_delta_ = 0;
  // A kStopped exit is a timeout only if the call then ends with one; a debugger's pause is not
  // recorded. Held here until the next event decides.
  std::optional<trace::Exit> pending_stop_;
  // Records go to the writer in batches (one lock per batch), and always before a flush or finish.
  static constexpr size_t kBatch = 256;
  std::vector<trace::Record> batch_;
  PageTracker pages_;
  std::vector<uint64_t> scratch_pages_;
};

// Starts recording `sandbox` into `path` (created or truncated): writes the Setup record from the
// sandbox's current state and attaches the recorder as its exit observer. The sandbox must be
// either just loaded (Sandbox::load(): the initialisation is recorded as the call "") or idle
// between calls; recording cannot start in the middle of a guest call. Errors are one line.
base::Expected<std::unique_ptr<Recorder>> record_to(vmm::Sandbox& sandbox, const std::string& path,
                                                    RecordOptions options = {});

}  // namespace hlrr::recorder
