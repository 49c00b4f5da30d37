#include "recorder/flight_recorder.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "recorder/convert.h"
#include "recorder/kept_trace.h"
#include "recorder/setup.h"

namespace hlrr::recorder {
namespace {

constexpr uint64_t kPage = vmm::GuestMemory::kPageSize;

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

base::Expected<std::unique_ptr<FlightRecorder>> flight_record(vmm::Sandbox& sandbox,
                                                              FlightOptions options) {
  if (!sandbox.initialized() || sandbox.call_in_progress())
    return base::fail("the flight recorder starts on an initialised sandbox between calls");
  if (options.directory.empty()) return base::fail("no directory for the kept traces");
  std::error_code ec;
  std::filesystem::create_directories(options.directory, ec);
  if (ec || !std::filesystem::is_directory(options.directory))
    return base::fail("cannot create directory " + options.directory +
                      (ec ? ": " + ec.message() : ": not a directory"));
  // The dirty log from now on, and the memory it is relative to (the constructor's copy).
  auto cursor = sandbox.track_dirty_pages();
  if (!cursor) return base::Unexpected(std::move(cursor).error());
  std::unique_ptr<FlightRecorder> flight(new FlightRecorder(sandbox, std::move(options)));
  flight->dirty_ = std::move(*cursor);
  sandbox.set_exit_observer(flight.get());
  return flight;
}

FlightRecorder::FlightRecorder(vmm::Sandbox& sandbox, FlightOptions options)
    : sandbox_(sandbox), options_(std::move(options)) {
  const uint8_t* base = sandbox.memory().host_base();
  shadow_.assign(base, base + sandbox.memory().size());
}

void FlightRecorder::take_dirty_pages() {
  // Only KVM's dirty-log ioctl can fail: the kept traces' memory would then be unknown.
  if (auto st = dirty_.take(scratch_pages_); !st && error_) error_ = std::move(st);
}

FlightRecorder::~FlightRecorder() {
  sandbox_.set_exit_observer(nullptr);
}

uint64_t FlightRecorder::instruction_count() {
  vmm::Vcpu& vcpu = sandbox_.vcpu();
  return vcpu.counts_instructions() ? vcpu.instruction_count() : 0;
}

void FlightRecorder::account(int64_t delta) {
  buffered_bytes_ = static_cast<uint64_t>(static_cast<int64_t>(buffered_bytes_) + delta);
  peak_bytes_ = std::max(peak_bytes_, buffered_bytes_);
}

void FlightRecorder::drop_oldest() {
  account(-static_cast<int64_t>(history_.front().bytes));
  recycle(std::move(history_.front()));
  history_.pop_front();
}

void FlightRecorder::recycle(BufferedCall&& call) {
  // Spare buffers are memory the accounting does not see: few, and small enough that all the
  // calls they become hold at most half the bound beyond what they use.
  const uint64_t limit = options_.max_buffer_bytes / (2 * (options_.calls_before + 2));
  if (spare_.size() < 2 && call.capacity_bytes() <= limit) spare_.push_back(std::move(call));
}

BufferedCall FlightRecorder::take_spare() {
  if (spare_.empty()) return {};
  BufferedCall call = std::move(spare_.back());
  spare_.pop_back();
  return call;
}

void FlightRecorder::trim_history() {
  while (!history_.empty() &&
         (history_.size() > options_.calls_before || buffered_bytes_ > options_.max_buffer_bytes)) {
    drop_oldest();
  }
}

void FlightRecorder::append(trace::Record record, std::span<const vmm::HostWrite> writes) {
  if (!current_ || current_->overflowed) return;
  uint64_t write_bytes = 0;
  for (const auto& w : writes) write_bytes += w.bytes.size();
  const uint64_t bytes = BufferedCall::bytes_for(record, writes.size(), write_bytes);
  // Make room by dropping the oldest calls; a call that alone does not fit cannot be kept.
  while (buffered_bytes_ + bytes > options_.max_buffer_bytes && !history_.empty()) drop_oldest();
  if (buffered_bytes_ + bytes > options_.max_buffer_bytes) {
    account(-static_cast<int64_t>(current_->bytes));
    current_->bytes = 0;
    current_->overflowed = true;
    current_->drop_records();
    return;
  }
  current_->append(std::move(record), writes);
  current_->bytes += bytes;
  account(static_cast<int64_t>(bytes));
}

void FlightRecorder::retire_current(std::vector<uint64_t>& changed) {
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  const uint8_t* memory = sandbox_.memory().host_base();
  const bool to_history =
      options_.calls_before > 0 && current_ && current_->ended && !current_->overflowed;
  if (to_history) {
    // What the shadow (this call's start) held before the pages move on: the way back.
    for (uint64_t page : changed) current_->save_undo(page, shadow_.data() + page * kPage);
    const uint64_t bytes = changed.size() * BufferedCall::undo_bytes_per_page();
    current_->bytes += bytes;
    account(static_cast<int64_t>(bytes));
  }
  for (uint64_t page : changed)
    std::memcpy(shadow_.data() + page * kPage, memory + page * kPage, kPage);
  if (current_) {
    if (to_history) {
      history_.push_back(std::move(*current_));
    } else {
      account(-static_cast<int64_t>(current_->bytes));
      // A call that could not be buffered breaks the chain back to the calls before it.
      if (current_->overflowed) {
        while (!history_.empty()) drop_oldest();
      }
      recycle(std::move(*current_));
    }
    current_.reset();
  }
  trim_history();
}

void FlightRecorder::on_call_start(std::string_view function, std::span<const vmm::Value> args,
                                   const vmm::RegisterFile& registers,
                                   std::span<const vmm::HostWrite> writes) {
  pending_stop_.reset();
  take_dirty_pages();
  retire_current(scratch_pages_);
  scratch_pages_.clear();
  current_ = take_spare();
  current_->reset(++calls_seen_, function, instruction_count());
  trace::CallStart call;
  call.function = std::string(function);
  for (const auto& a : args) call.args.push_back(to_trace(a));
  call.registers = to_trace(registers);
  append(std::move(call), writes);  // the restore's pages and the call's message
}

void FlightRecorder::on_exit(const vmm::VcpuExit& exit, const vmm::RegisterFile& registers,
                             std::span<const vmm::HostWrite> writes) {
  pending_stop_.reset();
  auto t = to_trace_exit(exit);
  if (!t) return;  // a pause for a debugger: no event of the guest
  t->registers = to_trace(registers);
  t->instruction_count = instruction_count();
  if (exit.kind == vmm::ExitKind::kStopped) {
    pending_stop_ = std::move(*t);  // a timeout only if the call then ends with one
    return;
  }
  t->sequence = exits_seen_++;
  append(std::move(*t), writes);
}

void FlightRecorder::on_nondet(vmm::NondetInstruction kind, uint64_t rip, uint64_t value,
                               uint64_t extra) {
  append(convert::to_trace_nondet(kind, instruction_count(), rip, value, extra));
}

base::Status FlightRecorder::on_debugger_write(const vmm::HostWrite* /*write*/) {
  return base::fail("refused a debugger's write: the flight recorder could not replay it");
}

void FlightRecorder::on_call_end(const base::Expected<vmm::Value, vmm::Fault>& result) {
  if (!current_) return;
  current_->ended = true;
  if (result) {
    pending_stop_.reset();
    append(trace::CallEnd::result(to_trace(*result)));
    return;
  }
  const vmm::Fault& fault = result.error();
  const bool timeout = fault.kind == vmm::FaultKind::kTimeout;
  if (timeout && pending_stop_) {
    pending_stop_->sequence = exits_seen_++;
    append(std::move(*pending_stop_));
  }
  pending_stop_.reset();
  const std::string message = fault.to_string();
  append(trace::CallEnd::error(message));
  // The guest refusing a call (unknown function, wrong arguments) is the host's mistake.
  if (fault.kind == vmm::FaultKind::kGuestError) return;
  auto kept =
      keep(message,
           trace::End{timeout ? trace::EndKind::kTimeout : trace::EndKind::kGuestFault, message});
  if (!kept) {
    if (error_) error_ = base::fail(kept.error().message);
    if (options_.notice) options_.notice(kept.error().message);
  }
}

base::Expected<KeptTrace> FlightRecorder::keep_last_call(const std::string& reason) {
  if (!current_ || !current_->ended || sandbox_.call_in_progress())
    return base::fail("no guest call has ended since the flight recorder started");
  // Memory changed since the call (a restore) makes the final memory delta a lie: leave it out.
  const size_t before = scratch_pages_.size();
  take_dirty_pages();
  memory_moved_on_ = scratch_pages_.size() > before;
  auto kept = keep(reason, trace::End{trace::EndKind::kCompleted, "kept by the host: " + reason});
  memory_moved_on_ = false;
  return kept;
}

base::Expected<KeptTrace> FlightRecorder::keep(const std::string& reason, trace::End end) {
  const BufferedCall& last = *current_;
  const std::string what = "call " + std::to_string(last.number) + " (" + last.function + ")";
  if (last.overflowed) {
    return base::fail("cannot keep " + what + ": its recording outgrew the flight recorder's " +
                      std::to_string(options_.max_buffer_bytes) + "-byte buffer");
  }
  // Guest memory at the first kept call's start: the shadow, taken back call by call.
  std::vector<uint8_t> start = shadow_;
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) it->undo(start);
  const BufferedCall& first = history_.empty() ? last : history_.front();
  const trace::CallStart& call_start = first.call_start();
  auto setup = build_setup_from(sandbox_, options_.guest_name, *call_start.registers, start);
  if (!setup) return base::fail("cannot keep " + what + ": " + setup.error().message);
  std::vector<trace::Record> records = window_records(start);
  const std::string path =
      unused_trace_path(options_.directory, options_.guest_name + "-call" +
                                                std::to_string(last.number) + "-" + last.function);
  end.end_time_ns = now_ns();
  if (auto st = write_trace_atomically(path, *setup, records, std::move(end), options_.writer);
      !st) {
    return base::fail("cannot keep " + what + ": " + st.error().message);
  }
  KeptTrace kept{path, first.number, last.number, reason};
  kept_.push_back(kept);
  if (options_.notice) {
    const uint64_t before = last.number - first.number;
    options_.notice("kept " + what +
                    (before ? " and the " + std::to_string(before) + " before it" : "") + " in " +
                    path);
  }
  return kept;
}

std::vector<trace::Record> FlightRecorder::window_records(
    std::span<const uint8_t> start_memory) const {
  std::vector<const BufferedCall*> calls;
  for (const auto& call : history_) calls.push_back(&call);
  calls.push_back(&*current_);
  // The kept trace counts from its own start: exits from 0, instructions from the first call's.
  const uint64_t base = calls.front()->start_count;
  const auto rebase = [base](uint64_t count) { return count == 0 ? 0 : count - base; };
  std::vector<trace::Record> out;
  uint64_t sequence = 0;
  for (const BufferedCall* call : calls) call->copy_records(out, sequence, base);
  if (sequence == 0 || memory_moved_on_) return out;
  // Memory as it stands after the last exit, for replay to verify.
  trace::MemoryDelta delta;
  delta.exit_sequence = sequence - 1;
  delta.instruction_count =
      rebase(sandbox_.vcpu().counts_instructions() ? sandbox_.vcpu().instruction_count() : 0);
  const uint8_t* now = sandbox_.memory().host_base();
  for (uint64_t offset = 0; offset < start_memory.size(); offset += kPage) {
    if (std::memcmp(now + offset, start_memory.data() + offset, kPage) == 0) continue;
    delta.pages.push_back(trace::Page{offset, {now + offset, now + offset + kPage}});
  }
  out.push_back(std::move(delta));
  return out;
}

}  // namespace hlrr::recorder
