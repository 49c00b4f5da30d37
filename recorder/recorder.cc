#include "recorder/recorder.h"

#include <ctime>

#include "base/hex.h"
#include "hl_abi.h"
#include "recorder/convert.h"
#include "recorder/embed_sources.h"
#include "recorder/setup.h"
#include "trace_format/file_layout.h"

namespace hlrr::recorder {

base::Expected<std::unique_ptr<Recorder>> record_to(vmm::Sandbox& sandbox, const std::string& path,
                                                    RecordOptions options) {
  if (sandbox.call_in_progress() && sandbox.initialized()) {
    return base::fail("cannot start recording in the middle of a guest call");
  }
  auto setup = build_setup(sandbox, options.guest_name);
  if (!setup) return base::Unexpected(std::move(setup).error());
  if (options.embed_sources) setup->sources = read_guest_sources(setup->elf, options.notice);
  auto writer = trace::TraceWriter::open(path, *setup, options.writer);
  if (!writer) return base::Unexpected(std::move(writer).error());
  std::unique_ptr<Recorder> recorder(new Recorder(sandbox, std::move(*writer), std::move(options)));
  if (sandbox.vcpu().backend_name() == "kvm") {
    recorder->warnings_ = kvm_nondet_warnings(sandbox.image(), recorder->options_.guest_name);
  }
  sandbox.set_exit_observer(recorder.get());
  return recorder;
}

Recorder::Recorder(vmm::Sandbox& sandbox, std::unique_ptr<trace::TraceWriter> writer,
                   RecordOptions options)
    : sandbox_(sandbox),
      writer_(std::move(writer)),
      options_(std::move(options)),
      on_kvm_(sandbox.vcpu().backend_name() == "kvm"),
      pages_(sandbox) {}  // Setup holds every page as it is now: the first delta starts here

Recorder::~Recorder() {
  (void)finish();
}

base::Status Recorder::finish() {
  if (!active_) return error_;
  std::string message;
  if (sandbox_.call_in_progress()) message = "recording stopped during a guest call";
  return finish(trace::End{trace::EndKind::kCompleted, message});
}

base::Status Recorder::finish(trace::End end) {
  if (!active_) return error_;
  if (exits_since_delta_ > 0) write_memory_delta();
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  end.end_time_ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  hand_over();
  active_ = false;
  sandbox_.set_exit_observer(nullptr);
  if (auto st = writer_->finish(std::move(end)); !st && error_) error_ = std::move(st);
  return error_;
}

void Recorder::append(trace::Record record) {
  if (!active_ || !error_) return;
  batch_.push_back(std::move(record));
  if (batch_.size() >= kBatch) hand_over();
}

void Recorder::hand_over() {
  if (batch_.empty()) return;
  if (auto st = writer_->append_batch(batch_); !st && error_) error_ = std::move(st);
  batch_.clear();
}

uint64_t Recorder::instruction_count() {
  vmm::Vcpu& vcpu = sandbox_.vcpu();
  return vcpu.counts_instructions() ? vcpu.instruction_count() : 0;
}

void Recorder::on_call_start(std::string_view function, std::span<const vmm::Value> args,
                             const vmm::RegisterFile& registers,
                             std::span<const vmm::HostWrite> writes) {
  pending_stop_.reset();
  trace::CallStart call;
  call.function = std::string(function);
  for (const auto& a : args) call.args.push_back(to_trace(a));
  call.registers = to_trace(registers);
  call.host_writes = to_trace(writes);
  for (const auto& w : writes) bytes_since_delta_ += w.bytes.size();
  ++calls_;
  append(std::move(call));
}

void Recorder::on_exit(const vmm::VcpuExit& exit, const vmm::RegisterFile& registers,
                       std::span<const vmm::HostWrite> writes) {
  pending_stop_.reset();
  auto t = to_trace_exit(exit);
  if (!t) return;  // a debugger's single step or instruction limit: not an event of the guest
  if (exit.kind == vmm::ExitKind::kStopped) {
    // A timeout is followed by the call's end with a timeout fault; a debugger's interrupt is
    // not. Keep the registers to run to, decide in on_call_end().
    t->registers = to_trace(registers);
    t->instruction_count = instruction_count();
    pending_stop_ = std::move(*t);
    return;
  }
  write_exit(std::move(*t), registers, writes);
}

void Recorder::write_exit(trace::Exit exit, const vmm::RegisterFile& registers,
                          std::span<const vmm::HostWrite> writes) {
  exit.sequence = next_exit_++;
  exit.registers = to_trace(registers);
  if (exit.instruction_count == 0) exit.instruction_count = instruction_count();
  exit.host_writes = to_trace(writes);
  for (const auto& w : writes) bytes_since_delta_ += w.bytes.size();
  append(std::move(exit));
  if (++exits_since_delta_ >= options_.delta_every_exits ||
      bytes_since_delta_ >= options_.delta_every_bytes) {
    write_memory_delta();
  }
}

void Recorder::write_memory_delta() {
  scratch_pages_.clear();
  // A delta that misses pages would make the recording lie: the recording fails instead.
  if (auto st = pages_.take_changed_pages(scratch_pages_); !st) {
    if (error_) error_ = base::fail("memory delta: " + st.error().message);
    return;
  }
  trace::MemoryDelta delta;
  // Memory as it stands after the last exit's host writes: where the guest resumes from.
  delta.exit_sequence = next_exit_ == 0 ? 0 : next_exit_ - 1;
  delta.instruction_count = instruction_count();
  const uint8_t* base = sandbox_.memory().host_base();
  for (uint64_t page : scratch_pages_) {
    const uint64_t address = page * HL_PAGE_SIZE;
    const std::span<const uint8_t> bytes(base + address, HL_PAGE_SIZE);
    if (keeps_contents(address)) {
      delta.pages.push_back(trace::Page{address, {bytes.begin(), bytes.end()}});
    } else {
      delta.page_digests.push_back(trace::PageDigest{address, trace::checksum(bytes)});
    }
  }
  exits_since_delta_ = 0;
  bytes_since_delta_ = 0;
  append(std::move(delta));
}

bool Recorder::keeps_contents(uint64_t address) const {
  if (options_.memory_contents) return true;
  // KVM delivers a fault through the guest's IDT, whose frame on the exception stack the software
  // vCPU never writes: replay takes those pages from the recording, so they need their bytes.
  return on_kvm_ && address >= HL_EXCEPTION_STUBS_BASE + HL_PAGE_SIZE &&
         address < HL_EXCEPTION_STACK_TOP;
}

void Recorder::on_nondet(vmm::NondetInstruction kind, uint64_t rip, uint64_t value,
                         uint64_t extra) {
  ++nondet_;
  append(convert::to_trace_nondet(kind, instruction_count(), rip, value, extra));
}

base::Status Recorder::on_debugger_write(const vmm::HostWrite* write) {
  const bool counted = sandbox_.vcpu().counts_instructions();
  if (write && counted) {
    bytes_since_delta_ += write->bytes.size();
    append(trace::DebuggerWrite{instruction_count(), to_trace(std::span(write, 1))});
    return {};
  }
  std::string line =
      "refused a debugger's write to " +
      (write ? "memory at " + base::hex(write->address) : std::string("registers")) +
      ": the run is being recorded, and the trace could not replay the change" +
      (write ? " (no instruction count on " + std::string(sandbox_.vcpu().backend_name()) + ")"
             : "");
  if (options_.notice) options_.notice(line);
  return base::fail(std::move(line));
}

void Recorder::on_call_end(const base::Expected<vmm::Value, vmm::Fault>& result) {
  if (result) {
    pending_stop_.reset();
    append(trace::CallEnd::result(to_trace(*result)));
    if (!active_) return;
    hand_over();
    if (auto st = writer_->flush(); !st && error_) error_ = std::move(st);
    return;
  }
  const vmm::Fault& fault = result.error();
  const bool timeout = fault.kind == vmm::FaultKind::kTimeout;
  if (timeout && pending_stop_) {
    // The register file to run to (DESIGN.md): replay stops there instead of at an exit.
    trace::Exit stop = std::move(*pending_stop_);
    pending_stop_.reset();
    const vmm::RegisterFile regs = from_trace(stop.registers);
    write_exit(std::move(stop), regs, {});
  }
  const std::string message = fault.to_string();
  append(trace::CallEnd::error(message));
  (void)finish(
      trace::End{timeout ? trace::EndKind::kTimeout : trace::EndKind::kGuestFault, message});
}

}  // namespace hlrr::recorder
