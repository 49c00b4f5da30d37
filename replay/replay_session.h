// ReplaySession: a recording re-executed forward on the software vCPU.
//
// open() rebuilds the guest from the trace alone (the Setup record: ELF bytes, configuration,
// every non-zero page, the register file) on a fresh UnicornVcpu. run_to() then re-executes,
// walking the recorded records in order: a CallStart applies the host's writes and sets the
// registers; at each recorded Exit the vCPU must exit the same way (kind, port, size, data) with
// the same guest-visible registers (and the same instruction count, when the recording came from
// the software vCPU), after which the host's writes and `in` values are injected; a NondetResult
// supplies rdtsc & co.; a MemoryDelta's pages must equal replayed memory. The first mismatch is a
// divergence: replay stops there with one line naming the exit, the instruction count and the
// first differing register or byte.
//
// Position: the instruction count since the start of the recording. "At count N" is the state
// just before instruction N+1 executes, after every record that executes no instruction (host
// writes, call starts) has been applied: each count names exactly one state (docs/replay.md).
//
// A session only runs forward; checkpoint()/restore() copy and reinstate its whole state, which
// is how the timeline goes back. Not thread-safe; blocking.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.h"
#include "replay/delta_digest.h"
#include "replay/page_set.h"
#include "trace_format/records.h"
#include "trace_format/trace_reader.h"
#include "trace_format/verify.h"
#include "vmm/elf_image.h"
#include "vmm/fault.h"
#include "vmm/guest_memory.h"
#include "vmm/register_file.h"
#include "vmm/unicorn_vcpu.h"
#include "vmm/vcpu.h"

namespace hlrr::replay {

// Why run_to() returned.
enum class StopKind : uint8_t {
  kReachedCount,  // at the requested instruction count
  kEnd,           // the end of the recording (end_note() says how it ended)
  kDivergence,    // replay no longer matches the recording (divergence() says where)
  kDebugPoint,    // a breakpoint or watchpoint set with set_debug_points() (last_hit())
  kInterrupted,   // the caller's stop token fired (at an exact count, between records)
};

// One replayed exit, for `monitor exits` and tests.
struct ExitInfo {
  uint64_t sequence = 0;
  uint64_t instruction_count = 0;  // replay's count right after the exit
  trace::ExitKind kind = trace::ExitKind::kHalt;
  uint16_t port = 0;
  uint64_t rip = 0;
  std::string call;                 // the guest call it belongs to ("" = initialisation)
  std::optional<vmm::Fault> fault;  // the exit ends its call with a fault (#PF, panic, ...)
};

// When a session reads and checks the recording's chunks (hltrace verify's checks, one chunk at
// a time; replay then streams them).
enum class ChunkCheck : uint8_t {
  kAtOpen,       // every chunk in open(): a damaged one fails open() (hlreplay --check, --core-at)
  kWhenReached,  // each chunk when replay first reaches it, open() reads only the index and Setup
                 // (hlreplay -g: a debugger connects at once to any recording); a damaged chunk
                 // stops replay there as a divergence naming it ("reading the recording: ...")
};

class ReplaySession {
 public:
  static base::Expected<std::unique_ptr<ReplaySession>> open(
      const std::string& path, ChunkCheck check = ChunkCheck::kAtOpen);
  static base::Expected<std::unique_ptr<ReplaySession>> open(
      std::unique_ptr<trace::TraceReader> reader, ChunkCheck check = ChunkCheck::kAtOpen);
  ~ReplaySession();
  ReplaySession(const ReplaySession&) = delete;
  ReplaySession& operator=(const ReplaySession&) = delete;

  // Re-executes until the count reaches `target`, the recording ends, replay diverges, or `stop`
  // fires (kInterrupted: the state is exact and replay can go on from it).
  StopKind run_to(uint64_t target, std::stop_token stop = {});
  StopKind run_to_end() { return run_to(UINT64_MAX); }

  uint64_t instruction_count() const;
  // Exits replayed so far (the sequence number of the next one).
  uint64_t exits_replayed() const { return exits_; }
  uint64_t recorded_exits() const { return reader_->exit_count(); }
  // Records after Setup in the recording, and how many of them are held in memory now: replay
  // streams the recording chunk by chunk (the chunk being replayed is the one held).
  uint64_t recorded_records() const { return chunk_first_.empty() ? 0 : chunk_first_.back(); }
  size_t records_held() const { return records_.size(); }
  // Chunks read and checked so far, in order from chunk 0 (Setup's): all of them after an open()
  // with kAtOpen, none after one with kWhenReached until replay starts.
  size_t chunks_checked() const { return checked_; }
  bool at_end() const { return at_end_; }
  // "completed", "guest fault: ...", "truncated (footer missing): ..." (valid once at_end()).
  const std::string& end_note() const { return end_note_; }
  // The fault the recording ends with, as the live run saw it (valid once at_end(); nullopt for
  // a recording that ends otherwise): a debugger is shown the fault's signal there, as live.
  const std::optional<vmm::Fault>& end_fault() const { return end_fault_; }
  // The divergence's one line (valid after run_to() returned kDivergence).
  const std::string& divergence() const { return divergence_; }
  // The guest call in progress ("" = initialisation), or nullopt between calls.
  const std::optional<std::string>& current_call() const { return call_; }
  // Every exit replay has passed, in order (index = sequence). Kept across restore(), which
  // only ever jumps to a checkpoint replay reached: exits_replayed() says where replay is.
  const std::vector<ExitInfo>& exits() const { return exit_log_; }
  // The instruction count at which call `number` started (0: the initialisation;
  // replay/call_index.h), once replay has passed that start: the state at that count is the
  // call's first instruction, its arguments placed. Kept across restore(): it never changes.
  std::optional<uint64_t> call_start(uint64_t number) const {
    auto it = call_starts_.find(number);
    return it == call_starts_.end() ? std::nullopt : std::optional<uint64_t>(it->second);
  }
  // Calls started so far, the one in progress included.
  uint64_t calls_started() const { return calls_started_; }
  // The number of the call in progress (nullopt between calls).
  std::optional<uint64_t> current_call_number() const {
    if (!call_ || calls_started_ == 0) return std::nullopt;
    return calls_started_ - 1;
  }

  // Breakpoints stop before the instruction (a run starting at one executes it first);
  // watchpoints stop after the accessing instruction (vmm::Vcpu::set_debug_points()).
  base::Status set_debug_points(std::span<const vmm::DebugPoint> points) {
    return vcpu_->set_debug_points(points);
  }
  const vmm::VcpuExit& last_hit() const { return last_hit_; }

  // For diversions (Timeline::begin_diversion()): the debugger's writes, and runs that consult
  // no record (the exits they stop at are the caller's to judge). A write to code drops its
  // translations.
  base::Status set_registers(const vmm::RegisterFile& regs) { return vcpu_->set_registers(regs); }
  base::Status write_memory(uint64_t address, std::span<const uint8_t> data);
  vmm::VcpuExit run_unrecorded(const vmm::RunOptions& options, std::stop_token stop);

  const trace::Setup& setup() const { return setup_; }
  const trace::TraceReader& reader() const { return *reader_; }
  const vmm::ElfImage& image() const { return image_; }
  vmm::GuestMemory& memory() { return memory_; }
  base::Expected<vmm::RegisterFile> registers() { return vcpu_->registers(); }

  // The session's whole state, to come back to. Memory is held page by page: a checkpoint
  // copies only the pages written since the checkpoint the current state derives from (the last
  // one taken or restored) and shares the others with it.
  using PageCopy = PageSet::Page;
  struct Checkpoint {
    size_t cursor = 0;
    uint64_t count = 0;
    uint64_t exits = 0;
    uint64_t calls_started = 0;
    std::optional<std::string> call;
    bool at_end = false;
    vmm::RegisterFile registers;
    PageSet pages;             // one per guest page
    uint64_t own_bytes = 0;    // bytes of the pages this checkpoint copied itself
    uint64_t block_bytes = 0;  // bytes of the page-table blocks it rebuilt
    uint64_t bytes() const { return own_bytes + block_bytes + pages.table_bytes() + sizeof(*this); }
  };
  Checkpoint checkpoint();
  void restore(const Checkpoint& checkpoint);
  // The page every never-written page of a checkpoint shares.
  static const PageCopy& zero_page();
  // Recorded count minus replay's, once replay has passed an exit with a count.
  std::optional<uint64_t> count_offset() const { return count_offset_; }
  // What replay learns on its way to a state it is about to restore without having replayed up
  // to it (DeltaStarts): `exits` from the first, the counts `call_starts` began at.
  void learn(std::span<const ExitInfo> exits, const std::map<uint64_t, uint64_t>& call_starts,
             uint64_t count_offset);
  // The 64-byte lines of guest code that ran since the previous call (unsorted; vmm/code_log.h).
  void collect_code_lines(std::vector<uint64_t>& lines) { vcpu_->collect_code_lines(lines); }

 private:
  ReplaySession(std::unique_ptr<trace::TraceReader> reader, trace::Setup setup, vmm::ElfImage image,
                vmm::GuestMemory memory);
  base::Status load(ChunkCheck check);
  // The record at `cursor_` (its chunk read if another one is held), nullptr past the last.
  const trace::Record* current_record();
  base::Status hold_chunk(size_t index);
  // Processes records until the next one needs the vCPU to run; false at the end.
  bool apply_passive_records();
  bool apply_call_start(const trace::CallStart& start);
  // Runs the vCPU; a stop request not made by this run's token (a late one) is not a stop.
  vmm::VcpuExit run_vcpu(const vmm::RunOptions& options);
  StopKind replay_exit(const trace::Exit& recorded, uint64_t target);
  // The exit replay made against the recorded one: kind, port and data, registers, count.
  std::optional<StopKind> compare_exit(const trace::Exit& recorded, const vmm::VcpuExit& exit,
                                       const vmm::RegisterFile& regs, const std::string& where);
  void log_exit(const trace::Exit& recorded, const vmm::VcpuExit& exit,
                const vmm::RegisterFile& regs);
  // A run ended where the caller asked (the target count) or at a debug point: the stop to
  // return, if so.
  std::optional<StopKind> stop_for_caller(const vmm::VcpuExit& exit, uint64_t target);
  StopKind replay_nondet(const trace::NondetResult& recorded, uint64_t target);
  StopKind diverge(std::string message);
  // The host wrote [address, address + size): drop translations of any code there.
  void host_wrote(uint64_t address, uint64_t size);
  // A recorded instruction count as replay counts it.
  uint64_t recorded_count(uint64_t count) const;
  base::Status apply_writes(const std::vector<trace::MemoryWrite>& writes);
  // Runs to the count of a debugger's write (applied by apply_passive_records()).
  StopKind run_to_debugger_write(const trace::DebuggerWrite& recorded, uint64_t target);
  // Reads chunk `checked_` and checks it (structure, memory deltas), in order from chunk 0.
  base::Status check_next_chunk();
  bool compare_memory(const DeltaDigest& delta);
  // Re-reads the delta to name the first differing byte (or, for KVM, take the fault frame).
  bool explain_memory_difference(const DeltaDigest& delta);

  std::unique_ptr<trace::TraceReader> reader_;
  trace::Setup setup_;
  vmm::ElfImage image_;
  vmm::GuestMemory memory_;
  std::unique_ptr<vmm::UnicornVcpu> vcpu_;  // replay always runs on the software vCPU
  bool from_kvm_ = false;
  // fop/fip/fdp are compared at exits: recorded (format 1.3 on) by the software vCPU, which
  // produces them deterministically (hardware may update them only on unmasked exceptions).
  bool compare_x87_last_ = false;
  // Recorded count minus replayed count, fixed at the first exit with a count (a recording that
  // started after the vCPU had already run counts from an offset).
  std::optional<uint64_t> count_offset_;

  // The records of one chunk (`held_chunk_`), read through the index when replay reaches it; a
  // MemoryDelta's pages are kept only as the digest in `deltas_` (by cursor), so memory stays
  // bounded by the guest's, not the trace's. chunk_first_[i]: the cursor of chunk i's first
  // record (one more entry: the number of records).
  std::vector<trace::Record> records_;
  std::unordered_map<size_t, DeltaDigest> deltas_;
  std::vector<size_t> chunk_first_;
  std::unique_ptr<trace::StructureCheck> check_;  // the chunks before `checked_` passed it
  size_t checked_ = 0;
  size_t held_chunk_ = 0;
  size_t held_first_ = 0;
  size_t cursor_ = 0;
  std::stop_token stop_;  // of the run_to() in progress
  uint64_t exits_ = 0;
  std::vector<ExitInfo> exit_log_;
  uint64_t calls_started_ = 0;
  std::map<uint64_t, uint64_t> call_starts_;  // call number -> count, as replay learns them
  std::optional<std::string> call_;
  bool at_end_ = false;
  std::string end_note_;
  std::optional<vmm::Fault> end_fault_;
  std::string divergence_;
  vmm::VcpuExit last_hit_;
  // The pages of the checkpoint the current memory derives from, and what changed since.
  PageSet base_pages_;
  vmm::DirtyPageLog::Cursor since_base_;  // pages written since base_pages_ were current
  std::vector<uint64_t> dirty_scratch_;
  std::vector<uint64_t> setup_pages_;  // the pages Setup wrote into the zeroed memory
};

}  // namespace hlrr::replay
