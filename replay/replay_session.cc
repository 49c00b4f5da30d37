#include "replay/replay_session.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/hex.h"
#include "convert/records.h"
#include "convert/registers.h"
#include "hl_abi.h"
#include "trace_format/file_layout.h"
#include "vmm/exit_handler.h"
#include "vmm/unicorn_vcpu.h"

namespace hlrr::replay {
namespace {

using base::hex;

std::string describe(const trace::Exit& exit) {
  std::string s = "exit " + std::to_string(exit.sequence) + " (" + trace::to_string(exit.kind);
  if (exit.kind == trace::ExitKind::kPortOut || exit.kind == trace::ExitKind::kPortIn) {
    s += " " + hex(exit.port);
  }
  return s + ")";
}

std::string end_text(const trace::End& end) {
  switch (end.kind) {
    case trace::EndKind::kCompleted:
      return "completed";
    case trace::EndKind::kGuestFault:
      return "guest fault: " + end.message;
    case trace::EndKind::kTimeout:
      return "timeout: " + end.message;
    case trace::EndKind::kUnknown:
      break;
  }
  return "unknown";
}

// The fault a live run sees at `exit`, if the exit ends the call with one (vmm::ExitHandler's
// view of CPU exceptions, accesses beyond memory, a shutdown and a panic).
std::optional<vmm::Fault> fault_at(const vmm::VcpuExit& exit, uint64_t rip) {
  std::optional<vmm::Fault> fault;
  switch (exit.kind) {
    case vmm::ExitKind::kException:
      fault = vmm::fault_for_exception(exit);
      break;
    case vmm::ExitKind::kOutOfBounds:
      fault = vmm::Fault{.kind = vmm::FaultKind::kOutOfBounds};
      fault->has_address = true;
      fault->address = exit.address;
      break;
    case vmm::ExitKind::kShutdown:
      fault = vmm::Fault{.kind = vmm::FaultKind::kTripleFault};
      break;
    case vmm::ExitKind::kIoOut:
      if (exit.port == HL_PORT_PANIC) fault = vmm::Fault{.kind = vmm::FaultKind::kPanic};
      break;
    default:
      break;
  }
  if (fault) fault->rip = rip;
  return fault;
}

}  // namespace

base::Expected<std::unique_ptr<ReplaySession>> ReplaySession::open(const std::string& path,
                                                                   ChunkCheck check) {
  auto reader = trace::TraceReader::open(path);
  if (!reader) return base::Unexpected(std::move(reader).error());
  return open(std::move(*reader), check);
}

base::Expected<std::unique_ptr<ReplaySession>> ReplaySession::open(
    std::unique_ptr<trace::TraceReader> reader, ChunkCheck check) {
  auto setup = reader->setup();
  if (!setup) return base::Unexpected(std::move(setup).error());
  auto image = vmm::ElfImage::parse(setup->elf);
  if (!image) return base::fail("the trace's guest ELF: " + image.error().message);
  auto memory = vmm::GuestMemory::create(setup->config.memory_size);
  if (!memory) return base::Unexpected(std::move(memory).error());
  reader->limit_chunk_size(max_chunk_bytes(setup->config.memory_size),
                           "more than a recording of " +
                               std::to_string(setup->config.memory_size >> 20) +
                               " MiB of guest memory holds");
  std::unique_ptr<ReplaySession> session(new ReplaySession(std::move(reader), std::move(*setup),
                                                           std::move(*image), std::move(*memory)));
  if (auto st = session->load(check); !st) return base::Unexpected(std::move(st).error());
  return session;
}

ReplaySession::ReplaySession(std::unique_ptr<trace::TraceReader> reader, trace::Setup setup,
                             vmm::ElfImage image, vmm::GuestMemory memory)
    : reader_(std::move(reader)),
      setup_(std::move(setup)),
      image_(std::move(image)),
      memory_(std::move(memory)) {}

ReplaySession::~ReplaySession() = default;

base::Status ReplaySession::load(ChunkCheck check) {
  from_kvm_ = setup_.backend == "kvm";
  const trace::FileHeader& header = reader_->header();
  compare_x87_last_ = !from_kvm_ && (header.major > 1 || header.minor >= 3);
  for (const auto& page : setup_.initial_memory) {
    if (auto st = memory_.write(page.address, page.bytes); !st) {
      return base::fail("the trace's initial memory: " + st.error().message);
    }
    setup_pages_.push_back(page.address / trace::kPageSize);
  }
  auto vcpu = vmm::UnicornVcpu::create(memory_, image_.instruction_sites());
  if (!vcpu) return base::Unexpected(std::move(vcpu).error());
  vcpu_ = std::move(*vcpu);
  if (auto st = vcpu_->set_registers(convert::from_trace(setup_.initial_registers)); !st) {
    return st;
  }
  vcpu_->set_instruction_count(0);
  // Checkpoints copy only the pages written since the previous one.
  if (auto st = vcpu_->set_dirty_tracking(true); !st) return st;
  since_base_ = memory_.dirty_log().open();
  // Where each chunk's records start, from the index (reading a chunk checks its count against
  // the index). Setup, alone in chunk 0, is not a record replay walks.
  const auto& chunks = reader_->chunks();
  chunk_first_.assign(1, 0);
  for (size_t i = 0; i < chunks.size(); ++i) {
    chunk_first_.push_back(chunk_first_.back() + chunks[i].record_count -
                           (i == 0 && chunks[i].record_count > 0 ? 1 : 0));
  }
  // Every chunk must pass hltrace verify's checks (nothing after End, ...) before replay uses
  // it: all of them now, so that a damaged one fails here with its one-line error, or each when
  // replay first reaches it, so that opening costs the same for any length. A truncated trace
  // holds its complete chunks. Replay reads them again one at a time (current_record()).
  check_ = std::make_unique<trace::StructureCheck>(*reader_);
  if (auto st = check_->finish(); !st) return st;
  if (check == ChunkCheck::kAtOpen) {
    while (checked_ < chunks.size()) {
      if (auto st = check_next_chunk(); !st) return st;
    }
  }
  // Setup's pages are in guest memory now; only the rest of Setup is needed later.
  setup_.initial_memory = {};
  held_chunk_ = SIZE_MAX;
  return {};
}

base::Status ReplaySession::check_next_chunk() {
  trace::ChunkHeader header;
  auto chunk = reader_->read_chunk(checked_, &header);
  if (!chunk) return base::Unexpected(std::move(chunk).error());
  if (auto st = check_->check_chunk(checked_, header, *chunk); !st) return st;
  for (size_t r = 0; r < chunk->size(); ++r) {
    if (const auto* delta = std::get_if<trace::MemoryDelta>(&(*chunk)[r])) {
      if (auto d = digest(*delta, memory_.size(), checked_, r); !d) {
        return base::Unexpected(std::move(d).error());
      }
    }
  }
  ++checked_;
  return {};
}

base::Status ReplaySession::hold_chunk(size_t index) {
  records_.clear();
  deltas_.clear();
  held_chunk_ = SIZE_MAX;
  // The structural checks span chunks: none before this one goes unchecked (replay reaches
  // chunks in order, so this is usually just the next one, checked as it is read).
  while (checked_ < index) {
    if (auto st = check_next_chunk(); !st) return st;
  }
  trace::ChunkHeader header;
  auto chunk = reader_->read_chunk(index, &header);
  if (!chunk) return base::Unexpected(std::move(chunk).error());
  if (index == checked_) {
    if (auto st = check_->check_chunk(index, header, *chunk); !st) return st;
    ++checked_;  // its memory deltas are checked below, as they are digested
  }
  const size_t first = chunk_first_[index];
  for (size_t r = 0; r < chunk->size(); ++r) {
    trace::Record& record = (*chunk)[r];
    if (std::holds_alternative<trace::Setup>(record)) continue;
    if (auto* delta = std::get_if<trace::MemoryDelta>(&record)) {
      auto d = digest(*delta, memory_.size(), index, r);
      if (!d) return base::Unexpected(std::move(d).error());
      deltas_.emplace(first + records_.size(), std::move(*d));
      delta->pages = {};
      delta->page_digests = {};
    }
    records_.push_back(std::move(record));
  }
  // As the index said when the trace was opened: a file that changed since is not the
  // recording replay started from.
  if (records_.size() != chunk_first_[index + 1] - first) {
    records_.clear();
    deltas_.clear();
    return base::fail("chunk " + std::to_string(index) + " changed since the trace was opened");
  }
  held_chunk_ = index;
  held_first_ = first;
  return {};
}

const trace::Record* ReplaySession::current_record() {
  if (cursor_ >= recorded_records()) return nullptr;
  if (held_chunk_ == SIZE_MAX || cursor_ < held_first_ ||
      cursor_ >= held_first_ + records_.size()) {
    // The chunk holding cursor_: the last whose first record is at or before it (chunks without
    // records share their successor's first).
    const auto it = std::upper_bound(chunk_first_.begin(), chunk_first_.end(), cursor_);
    const size_t index = static_cast<size_t>(it - chunk_first_.begin()) - 1;
    if (auto st = hold_chunk(index); !st) {
      diverge("reading the recording: " + st.error().message);
      return nullptr;
    }
  }
  return &records_[cursor_ - held_first_];
}

uint64_t ReplaySession::instruction_count() const {
  return vcpu_->instruction_count();
}

StopKind ReplaySession::diverge(std::string message) {
  divergence_ = std::move(message);
  return StopKind::kDivergence;
}

StopKind ReplaySession::run_to(uint64_t target, std::stop_token stop) {
  stop_ = stop;
  const uint64_t generation = vcpu_->begin_stop_generation();  // earlier requests are stale
  std::stop_callback on_stop(
      stop, [this, generation] { vcpu_->request_stop(vmm::StopCause::kInterrupt, generation); });
  for (;;) {
    if (!divergence_.empty()) return StopKind::kDivergence;
    if (stop.stop_requested()) return StopKind::kInterrupted;
    if (!apply_passive_records()) {
      if (!divergence_.empty()) return StopKind::kDivergence;
      return StopKind::kEnd;
    }
    if (instruction_count() >= target) return StopKind::kReachedCount;
    const trace::Record& record = *current_record();  // held: apply_passive_records() read it
    if (const auto* exit = std::get_if<trace::Exit>(&record)) {
      // kReachedCount: the exit was replayed, or the target came first (checked above).
      const StopKind stop = replay_exit(*exit, target);
      if (stop != StopKind::kReachedCount) return stop;
      continue;
    }
    if (const auto* nondet = std::get_if<trace::NondetResult>(&record)) {
      const StopKind stop = replay_nondet(*nondet, target);
      if (stop != StopKind::kReachedCount) return stop;
      continue;
    }
    if (const auto* write = std::get_if<trace::DebuggerWrite>(&record)) {
      const StopKind stop = run_to_debugger_write(*write, target);
      if (stop != StopKind::kReachedCount) return stop;
      continue;
    }
    return diverge("record " + std::to_string(cursor_) + " of the trace cannot be replayed");
  }
}

bool ReplaySession::apply_passive_records() {
  for (;;) {
    if (at_end_) return false;
    const trace::Record* current = current_record();
    if (!current) {
      if (!divergence_.empty()) return false;
      at_end_ = true;
      end_note_ = reader_->truncated() ? "the recording ends here: " + reader_->truncation_note()
                                       : "the recording ends here (no End record)";
      return false;
    }
    const trace::Record& record = *current;
    if (const auto* start = std::get_if<trace::CallStart>(&record)) {
      if (!apply_call_start(*start)) return false;
    } else if (std::holds_alternative<trace::CallEnd>(record)) {
      call_.reset();
    } else if (std::holds_alternative<trace::MemoryDelta>(record)) {
      if (!compare_memory(deltas_.at(cursor_))) return false;
    } else if (const auto* end = std::get_if<trace::End>(&record)) {
      at_end_ = true;
      end_note_ = end_text(*end);
      // Every exit is replayed by now: the last one is the fault the recording ended with.
      if (end->kind == trace::EndKind::kGuestFault && exits_ == exit_log_.size() &&
          !exit_log_.empty()) {
        end_fault_ = exit_log_.back().fault;
      }
      return false;
    } else if (const auto* write = std::get_if<trace::DebuggerWrite>(&record);
               write && recorded_count(write->instruction_count) == instruction_count()) {
      // Made while the guest was paused here: part of the state "at this count".
      if (auto st = apply_writes(write->writes); !st) {
        diverge("the debugger's write at instruction " + std::to_string(instruction_count()) +
                ": " + st.error().message);
        return false;
      }
    } else {
      return true;  // an Exit or a NondetResult: the vCPU runs to it
    }
    ++cursor_;
  }
}

bool ReplaySession::apply_call_start(const trace::CallStart& start) {
  if (!start.registers) {
    diverge("call " + start.function +
            ": the trace does not record the call's registers "
            "(format 1.0), so it cannot be replayed");
    return false;
  }
  for (const auto& w : start.host_writes) {
    if (auto st = memory_.write(w.address, w.bytes); !st) {
      diverge("call " + start.function + ": " + st.error().message);
      return false;
    }
    host_wrote(w.address, w.bytes.size());  // a restored snapshot may put back code
  }
  if (auto st = vcpu_->set_registers(convert::from_trace(*start.registers)); !st) {
    diverge(st.error().message);
    return false;
  }
  call_ = start.function;
  call_starts_[calls_started_++] = instruction_count();
  return true;
}

bool ReplaySession::compare_memory(const DeltaDigest& delta) {
  for (const auto& [address, sum] : delta.pages) {
    // digest() checked that the page is guest memory.
    if (trace::checksum({memory_.host_base() + address, trace::kPageSize}) != sum) {
      return explain_memory_difference(delta);
    }
  }
  return true;
}

bool ReplaySession::explain_memory_difference(const DeltaDigest& digest) {
  auto records = reader_->read_chunk(digest.chunk);
  const auto* delta = records && digest.record < records->size()
                          ? std::get_if<trace::MemoryDelta>(&(*records)[digest.record])
                          : nullptr;
  if (!delta) {
    diverge("memory delta after exit " + std::to_string(digest.exit_sequence) + ": " +
            (records ? "no longer in the trace" : records.error().message));
    return false;
  }
  for (const auto& p : delta->pages) {
    const uint8_t* page = memory_.host_base() + p.address;
    if (std::memcmp(page, p.bytes.data(), trace::kPageSize) == 0) continue;
    // KVM delivers a fault through the guest's IDT, which pushes a frame on the exception stack;
    // the software vCPU reports faults without touching memory. The call ends there, so the
    // frame is taken from the recording, not compared.
    if (from_kvm_ && p.address >= HL_EXCEPTION_STUBS_BASE + HL_PAGE_SIZE &&
        p.address < HL_EXCEPTION_STACK_TOP) {
      (void)memory_.write(p.address, p.bytes);
      continue;
    }
    size_t i = 0;
    while (page[i] == p.bytes[i]) ++i;
    diverge("memory after exit " + std::to_string(delta->exit_sequence) + " at instruction " +
            std::to_string(instruction_count()) + ": byte " + hex(p.address + i) + " is " +
            hex(page[i]) + ", recorded " + hex(p.bytes[i]));
    return false;
  }
  // A page recorded by its checksum only (1.5) can be named, not its byte.
  for (const auto& p : delta->page_digests) {
    const uint64_t sum = trace::checksum({memory_.host_base() + p.address, trace::kPageSize});
    if (sum == p.checksum) continue;
    diverge("memory after exit " + std::to_string(delta->exit_sequence) + " at instruction " +
            std::to_string(instruction_count()) + ": page " + hex(p.address) +
            " differs from the recording (checksum " + hex(sum) + ", recorded " + hex(p.checksum) +
            "; record with --record-memory to name the byte)");
    return false;
  }
  return true;
}

StopKind ReplaySession::replay_exit(const trace::Exit& recorded, uint64_t target) {
  const bool counted = !from_kvm_ && recorded.instruction_count != 0;
  vmm::RunOptions options;
  if (target != UINT64_MAX) options.max_instructions = target - instruction_count();
  // A timeout stopped the guest between exits: run to the recorded count, then compare.
  if (recorded.kind == trace::ExitKind::kTimeout) {
    if (!counted) {
      at_end_ = true;
      end_note_ =
          "the recording timed out on KVM, where instruction counts are unknown: replay "
          "ends at the last exit before the timeout";
      return StopKind::kEnd;
    }
    if (recorded.instruction_count < instruction_count()) {
      return diverge(describe(recorded) + ": replay is already past the recorded count " +
                     std::to_string(recorded.instruction_count));
    }
    const uint64_t left = recorded.instruction_count - instruction_count();
    if (left != 0 && (options.max_instructions == 0 || left < options.max_instructions)) {
      options.max_instructions = left;
    }
  }
  vmm::VcpuExit exit;
  if (recorded.kind != trace::ExitKind::kTimeout || options.max_instructions != 0) {
    exit = run_vcpu(options);
  } else {
    exit.kind = vmm::ExitKind::kInstructionLimit;
  }
  if (auto stop = stop_for_caller(exit, target)) return *stop;
  auto regs = vcpu_->registers();
  if (!regs) return diverge(regs.error().message);
  const std::string where =
      describe(recorded) + " at instruction " + std::to_string(instruction_count());
  if (auto diverged = compare_exit(recorded, exit, *regs, where)) return *diverged;
  // What the host did at this exit.
  if (auto st = apply_writes(recorded.host_writes); !st) {
    return diverge(where + ": " + st.error().message);
  }
  if (recorded.kind == trace::ExitKind::kPortIn) vcpu_->set_io_in_result(recorded.in_value);
  log_exit(recorded, exit, *regs);
  ++exits_;
  ++cursor_;
  return StopKind::kReachedCount;
}

std::optional<StopKind> ReplaySession::compare_exit(const trace::Exit& recorded,
                                                    const vmm::VcpuExit& exit,
                                                    const vmm::RegisterFile& regs,
                                                    const std::string& where) {
  if (exit.kind == vmm::ExitKind::kNondet) {
    return diverge(where + ": the guest executed " + vmm::to_string(exit.nondet) + " at " +
                   hex(regs.rip) + ", which the recording does not have here");
  }
  if (recorded.kind == trace::ExitKind::kTimeout) {
    if (exit.kind != vmm::ExitKind::kInstructionLimit) {
      return diverge(where + ": replay exited (" + vmm::to_string(exit.kind) +
                     ") before the recorded timeout");
    }
  } else {
    const auto replayed = convert::to_trace_exit(exit);
    if (!replayed || replayed->kind != recorded.kind) {
      return diverge(where + ": replay exited with " + vmm::to_string(exit.kind) + " at " +
                     hex(regs.rip));
    }
    if (replayed->port != recorded.port || replayed->access_size != recorded.access_size ||
        replayed->data != recorded.data) {
      return diverge(where + ": port " + hex(replayed->port) + " size " +
                     std::to_string(replayed->access_size) + " data " + hex(replayed->data) +
                     ", recorded port " + hex(recorded.port) + " size " +
                     std::to_string(recorded.access_size) + " data " + hex(recorded.data));
    }
  }
  // Undefined flag bits differ between silicon and emulation: a KVM recording is compared
  // without them and the vCPU takes the recorded value (DESIGN.md).
  const vmm::RegisterFile expected = convert::from_trace(recorded.registers);
  const uint64_t mask = from_kvm_ ? ~vmm::kRflagsStatusBits : ~0ull;
  if (auto diff = vmm::first_difference(regs, expected, mask, compare_x87_last_)) {
    return diverge(where + ": " + *diff + " (replayed != recorded)");
  }
  if (from_kvm_ && regs.rflags != expected.rflags) {
    vmm::RegisterFile synced = regs;
    synced.rflags = expected.rflags;
    if (auto st = vcpu_->set_registers(synced); !st) return diverge(st.error().message);
  }
  if (!from_kvm_ && recorded.instruction_count != 0) {
    if (!count_offset_) count_offset_ = recorded.instruction_count - instruction_count();
    if (instruction_count() + *count_offset_ != recorded.instruction_count) {
      return diverge(where + ": instruction count " +
                     std::to_string(instruction_count() + *count_offset_) + ", recorded " +
                     std::to_string(recorded.instruction_count));
    }
  }
  return std::nullopt;
}

void ReplaySession::log_exit(const trace::Exit& recorded, const vmm::VcpuExit& exit,
                             const vmm::RegisterFile& regs) {
  // Known once: replaying an exit again (after going back) finds it in the log already.
  if (recorded.sequence != exit_log_.size()) return;
  exit_log_.push_back(ExitInfo{.sequence = recorded.sequence,
                               .instruction_count = instruction_count(),
                               .kind = recorded.kind,
                               .port = recorded.port,
                               .rip = regs.rip,
                               .call = call_.value_or(""),
                               .fault = fault_at(exit, regs.rip)});
}

void ReplaySession::host_wrote(uint64_t address, uint64_t size) {
  for (const auto& seg : image_.segments()) {
    if (seg.executable && address < seg.vaddr + seg.memory_size && seg.vaddr < address + size) {
      vcpu_->code_modified(address, size);
    }
  }
}

base::Status ReplaySession::write_memory(uint64_t address, std::span<const uint8_t> data) {
  if (auto st = memory_.write(address, data); !st) return st;
  host_wrote(address, data.size());
  return {};
}

vmm::VcpuExit ReplaySession::run_unrecorded(const vmm::RunOptions& options, std::stop_token stop) {
  stop_ = stop;
  const uint64_t generation = vcpu_->begin_stop_generation();  // earlier requests are stale
  std::stop_callback on_stop(
      stop, [this, generation] { vcpu_->request_stop(vmm::StopCause::kInterrupt, generation); });
  return run_vcpu(options);
}

uint64_t ReplaySession::recorded_count(uint64_t count) const {
  return count - count_offset_.value_or(0);
}

base::Status ReplaySession::apply_writes(const std::vector<trace::MemoryWrite>& writes) {
  for (const auto& w : writes) {
    if (auto st = memory_.write(w.address, w.bytes); !st) return st;
    host_wrote(w.address, w.bytes.size());
  }
  return {};
}

StopKind ReplaySession::run_to_debugger_write(const trace::DebuggerWrite& recorded,
                                              uint64_t target) {
  const uint64_t at = recorded_count(recorded.instruction_count);
  const std::string where = "the debugger's write at instruction " + std::to_string(at);
  if (at < instruction_count()) {
    return diverge(where + ": replay is already at instruction " +
                   std::to_string(instruction_count()));
  }
  // No exit comes before it (it would be recorded first): run exactly to it, or to the target.
  vmm::RunOptions options;
  options.max_instructions = std::min(at, target) - instruction_count();
  const vmm::VcpuExit exit = run_vcpu(options);
  if (auto stop = stop_for_caller(exit, target)) return *stop;
  if (exit.kind != vmm::ExitKind::kInstructionLimit || instruction_count() != at) {
    return diverge(where + ": replay exited with " + vmm::to_string(exit.kind) +
                   " at instruction " + std::to_string(instruction_count()) + " before it");
  }
  return StopKind::kReachedCount;  // apply_passive_records() applies it at this count
}

std::optional<StopKind> ReplaySession::stop_for_caller(const vmm::VcpuExit& exit, uint64_t target) {
  if (exit.kind == vmm::ExitKind::kInstructionLimit && instruction_count() >= target) {
    return StopKind::kReachedCount;
  }
  if (exit.kind == vmm::ExitKind::kDebug && exit.has_debug_point) {
    last_hit_ = exit;
    return StopKind::kDebugPoint;
  }
  if (exit.kind == vmm::ExitKind::kStopped) return StopKind::kInterrupted;  // see run_vcpu()
  return std::nullopt;
}

vmm::VcpuExit ReplaySession::run_vcpu(const vmm::RunOptions& options) {
  for (;;) {
    vmm::VcpuExit exit = vcpu_->run(options);
    // A request that arrived after an earlier run had ended stops this one at its start.
    if (exit.kind != vmm::ExitKind::kStopped || stop_.stop_requested()) return exit;
  }
}

StopKind ReplaySession::replay_nondet(const trace::NondetResult& recorded, uint64_t target) {
  vmm::RunOptions options;
  if (target != UINT64_MAX) options.max_instructions = target - instruction_count();
  const vmm::VcpuExit exit = run_vcpu(options);
  if (auto stop = stop_for_caller(exit, target)) return *stop;
  auto regs = vcpu_->registers();
  if (!regs) return diverge(regs.error().message);
  const std::string where =
      "the recorded " +
      std::string(vmm::to_string(static_cast<vmm::NondetInstruction>(recorded.kind))) + " at " +
      hex(recorded.rip) + " (instruction " + std::to_string(instruction_count()) + ")";
  if (exit.kind != vmm::ExitKind::kNondet) {
    return diverge(where + ": replay exited with " + vmm::to_string(exit.kind) + " at " +
                   hex(regs->rip) + " instead");
  }
  if (regs->rip != recorded.rip ||
      static_cast<uint8_t>(exit.nondet) != static_cast<uint8_t>(recorded.kind)) {
    return diverge(where + ": replay executed " + vmm::to_string(exit.nondet) + " at " +
                   hex(regs->rip));
  }
  if (recorded.values.empty()) return diverge(where + ": the record holds no value");
  vcpu_->set_nondet_result(recorded.values[0], recorded.values.size() > 1 ? recorded.values[1] : 0);
  ++cursor_;
  return StopKind::kReachedCount;
}

ReplaySession::Checkpoint ReplaySession::checkpoint() {
  Checkpoint c;
  c.cursor = cursor_;
  c.count = instruction_count();
  c.exits = exits_;
  c.calls_started = calls_started_;
  c.call = call_;
  c.at_end = at_end_;
  auto regs = vcpu_->registers();
  HLRR_CHECK(regs.has_value());
  c.registers = *regs;
  const uint64_t pages = memory_.page_count();
  const uint8_t* base = memory_.host_base();
  const auto copy = [&](uint64_t page) {
    c.own_bytes += trace::kPageSize;
    return PagePool::instance().copy(base + page * trace::kPageSize);
  };
  dirty_scratch_.clear();
  // The software vCPU marks the log itself: no collector, so this cannot fail.
  HLRR_CHECK(since_base_.take(dirty_scratch_).has_value());
  if (base_pages_.empty()) {
    // Memory started zeroed: only Setup's pages and those written since hold anything. The rest
    // share one zero page (copying all of a 64 MiB guest took most of hlreplay -g's start-up).
    c.pages = PageSet(pages, zero_page());
    dirty_scratch_.insert(dirty_scratch_.end(), setup_pages_.begin(), setup_pages_.end());
  } else {
    c.pages = base_pages_;
  }
  std::sort(dirty_scratch_.begin(), dirty_scratch_.end());
  dirty_scratch_.erase(std::unique(dirty_scratch_.begin(), dirty_scratch_.end()),
                       dirty_scratch_.end());
  dirty_scratch_.erase(std::lower_bound(dirty_scratch_.begin(), dirty_scratch_.end(), pages),
                       dirty_scratch_.end());
  c.block_bytes = c.pages.replace(dirty_scratch_, copy);
  base_pages_ = c.pages;
  return c;
}

const ReplaySession::PageCopy& ReplaySession::zero_page() {
  static const PageCopy kZeroPage = PagePool::instance().filled(0);
  return kZeroPage;
}

void ReplaySession::learn(std::span<const ExitInfo> exits,
                          const std::map<uint64_t, uint64_t>& call_starts, uint64_t count_offset) {
  for (size_t i = exit_log_.size(); i < exits.size(); ++i) exit_log_.push_back(exits[i]);
  call_starts_.insert(call_starts.begin(), call_starts.end());
  if (!count_offset_) count_offset_ = count_offset;
}

void ReplaySession::restore(const Checkpoint& c) {
  cursor_ = c.cursor;
  exits_ = c.exits;
  calls_started_ = c.calls_started;
  call_ = c.call;
  at_end_ = c.at_end;
  divergence_.clear();
  // Only pages written since the base checkpoint, or that differ between the two, need copying.
  dirty_scratch_.clear();
  HLRR_CHECK(since_base_.take(dirty_scratch_).has_value());
  uint8_t* base = memory_.host_base();
  const auto put = [&](uint64_t page) {
    const uint64_t gpa = page * trace::kPageSize;
    std::memcpy(base + gpa, c.pages[page]->data(), trace::kPageSize);
    // Restored code must not run from stale translations (data pages need nothing: retranslating
    // all the code on every restore would dominate a reverse step).
    for (const auto& seg : image_.segments()) {
      if (seg.executable && gpa < seg.vaddr + seg.memory_size &&
          seg.vaddr < gpa + trace::kPageSize) {
        vcpu_->code_modified(gpa, trace::kPageSize);
      }
    }
  };
  if (base_pages_.size() != c.pages.size()) {
    for (uint64_t page = 0; page < c.pages.size(); ++page) put(page);
  } else {
    for (uint64_t page : dirty_scratch_) {
      if (page < c.pages.size()) put(page);
    }
    c.pages.for_each_difference(base_pages_, put);
  }
  // What this restore wrote is the new base, no change since it.
  HLRR_CHECK(since_base_.skip().has_value());
  base_pages_ = c.pages;
  HLRR_CHECK(vcpu_->set_registers(c.registers).has_value());
  vcpu_->set_instruction_count(c.count);
}

}  // namespace hlrr::replay
