#include "vmm/sandbox.h"

#include <cstdio>
#include <cstring>

#include "hl_abi.h"
#include "vmm/exit_handler.h"
#include "vmm/guest_messages.h"
#include "vmm/long_mode.h"
#include "vmm/nondet_source.h"
#include "vmm/watchdog.h"

namespace hlrr::vmm {
namespace {

void install_print(SandboxConfig& config) {
  if (config.host_functions.contains("print")) return;
  auto output = config.output;
  if (!output) output = [](std::string_view s) { std::fwrite(s.data(), 1, s.size(), stdout); };
  config.host_functions.add("print", {{ValueType::kString}, ValueType::kI64},
                            [output](std::span<const Value> args) -> base::Expected<Value> {
                              const auto& text = std::get<std::string>(args[0]);
                              output(text);
                              return static_cast<int64_t>(text.size());
                            });
}

}  // namespace

base::Expected<std::unique_ptr<Sandbox>> Sandbox::create_from_file(const std::string& path,
                                                                   SandboxConfig config) {
  auto image = ElfImage::read_file(path);
  if (!image) return base::Unexpected(std::move(image).error());
  return create(std::move(*image), std::move(config));
}

base::Expected<std::unique_ptr<Sandbox>> Sandbox::create(ElfImage image, SandboxConfig config) {
  auto sandbox = load(std::move(image), std::move(config));
  if (!sandbox) return sandbox;
  const RunOutcome outcome = (*sandbox)->resume();
  switch (outcome.kind) {
    case RunOutcome::Kind::kReturned:
      return sandbox;
    case RunOutcome::Kind::kFaulted:
      return base::fail(outcome.fault.kind == FaultKind::kGuestError
                            ? outcome.fault.message
                            : "guest initialisation failed: " + outcome.fault.to_string());
    case RunOutcome::Kind::kPaused:
      break;
  }
  return base::fail(std::string("guest initialisation stopped unexpectedly: ") +
                    to_string(outcome.exit.kind));
}

base::Expected<std::unique_ptr<Sandbox>> Sandbox::load(ElfImage image, SandboxConfig config) {
  if (config.memory_size < HL_MIN_MEMORY || config.memory_size % HL_PAGE_SIZE != 0 ||
      config.memory_size > HL_MAPPED_LIMIT) {
    return base::fail("guest memory size must be a multiple of 4 KiB between 2 MiB and 4 GiB");
  }
  if (auto fits = image.check_fits(HL_IMAGE_BASE, config.memory_size); !fits) {
    return base::Unexpected(std::move(fits).error());
  }
  auto memory = GuestMemory::create(config.memory_size);
  if (!memory) return base::Unexpected(std::move(memory).error());
  install_print(config);
  std::unique_ptr<Sandbox> sandbox(
      new Sandbox(std::move(image), std::move(config), std::move(*memory)));
  if (auto st = sandbox->prepare(); !st) return base::Unexpected(std::move(st).error());
  return sandbox;
}

Sandbox::Sandbox(ElfImage image, SandboxConfig config, GuestMemory memory)
    : image_(std::move(image)), config_(std::move(config)), memory_(std::move(memory)) {}

Sandbox::~Sandbox() = default;

base::Status Sandbox::prepare() {
  if (auto st = write_page_tables(memory_); !st) return st;
  if (auto st = write_descriptor_tables(memory_); !st) return st;
  if (auto st = image_.load_into(memory_, HL_IMAGE_BASE); !st) return st;
  const hl_boot_info boot{HL_BOOT_MAGIC, HL_ABI_VERSION, memory_.size()};
  if (auto st = memory_.write_value(HL_CALL_AREA, boot); !st) return st;

  auto vcpu = config_.vcpu_factory ? config_.vcpu_factory(memory_, image_)
                                   : create_vcpu(config_.vcpu, memory_, image_);
  if (!vcpu) return base::Unexpected(std::move(vcpu).error());
  vcpu_ = std::move(*vcpu);
  const RegisterFile regs = initial_registers(image_.entry());
  if (auto st = vcpu_->set_registers(regs); !st) return st;
  // The current generation: a deadline that passes between a debugger's resumes is carried
  // into the next one by resume().
  watchdog_ =
      std::make_unique<Watchdog>([vcpu = vcpu_.get()] { vcpu->request_stop(StopCause::kTimeout); });
  // The initialisation is the first call: named "", no arguments. Its start is reported to
  // an observer by the first resume(), so that one attached after load() sees it.
  call_in_progress_ = true;
  initialization_unreported_ = true;
  vcpu_->begin_stop_generation();
  if (config_.timeout.count() > 0) watchdog_->arm_for(config_.timeout);
  return {};
}

base::Expected<Value, Fault> Sandbox::call(std::string_view name, std::span<const Value> args) {
  if (auto st = begin_call(name, args); !st) {
    return base::Unexpected(Fault{.kind = FaultKind::kGuestError, .message = st.error().message});
  }
  RunOutcome outcome = resume();
  switch (outcome.kind) {
    case RunOutcome::Kind::kReturned:
      return std::move(outcome.value);
    case RunOutcome::Kind::kFaulted:
      return base::Unexpected(std::move(outcome.fault));
    case RunOutcome::Kind::kPaused:
      break;
  }
  // Nothing asks a plain call to pause; a stray stop request ends it.
  return base::Unexpected(
      locate(Fault{.kind = FaultKind::kInternal,
                   .message = "call paused: " + std::string(to_string(outcome.exit.kind))}));
}

base::Status Sandbox::begin_call(std::string_view name, std::span<const Value> args) {
  HLRR_CHECK(!call_in_progress_);
  if (!initialized()) return base::fail("the guest has not finished its initialisation");
  const size_t journaled = journal_.size();
  if (observer_) memory_.set_write_journal(&journal_);
  auto st = write_message(memory_, HL_CALL_AREA, HL_AREA_SIZE, HL_MSG_CALL, name, args);
  // A guest that halts without writing its result must not be credited with an old one.
  if (st) st = memory_.write_value<uint32_t>(HL_OUT_AREA, 0);
  memory_.set_write_journal(nullptr);
  if (!st) {
    journal_.resize(journaled);  // a restore's writes before it still belong to the next call
    return st;
  }
  // Every call starts from the same register state: deterministic whatever ran before.
  const RegisterFile regs = initial_registers(dispatch_address_);
  if (auto set = vcpu_->set_registers(regs); !set) return set;
  call_in_progress_ = true;
  if (observer_) {
    observer_->on_call_start(name, args, regs, journal_);
    journal_.clear();
  }
  vcpu_->begin_stop_generation();  // a stop meant for an earlier call is harmless now
  if (config_.timeout.count() > 0) watchdog_->arm_for(config_.timeout);
  return {};
}

RunOutcome Sandbox::resume(const RunOptions& options) {
  HLRR_CHECK(call_in_progress_);
  if (observer_ && initialization_unreported_) {
    auto regs = vcpu_->registers();
    HLRR_CHECK(regs.has_value());
    observer_->on_call_start("", {}, *regs, {});
  }
  initialization_unreported_ = false;
  // The deadline passed while no run was going on (a debugger held the call stopped): the
  // request it made may belong to a generation the debugger has since left.
  if (watchdog_->fired()) vcpu_->request_stop(StopCause::kTimeout);
  // The exit loop: run the vCPU, serve what it exited for, until the call ends or pauses.
  ExitHandler handler(memory_, config_.host_functions);
  for (;;) {
    const VcpuExit exit = vcpu_->run(options);
    if (auto outcome = serve_exit(exit, handler, options)) return std::move(*outcome);
  }
}

std::optional<RunOutcome> Sandbox::serve_exit(const VcpuExit& exit, ExitHandler& handler,
                                              const RunOptions& options) {
  // A single step whose instruction exited (a host call's `out`, rdtsc) is complete once served.
  const std::optional<RunOutcome> stepped =
      options.single_step ? std::optional(RunOutcome{.kind = RunOutcome::Kind::kPaused,
                                                     .exit = VcpuExit{.kind = ExitKind::kDebug}})
                          : std::nullopt;
  if (exit.kind == ExitKind::kNondet) {
    supply_nondet(exit);
    return stepped;
  }
  ++exit_count_;
  RegisterFile regs_at_exit;
  if (observer_) {
    auto regs = vcpu_->registers();
    HLRR_CHECK(regs.has_value());
    regs_at_exit = *regs;
    memory_.set_write_journal(&journal_);
  }
  if (exit.kind == ExitKind::kDebug || exit.kind == ExitKind::kInstructionLimit ||
      (exit.kind == ExitKind::kStopped && exit.stop_cause != StopCause::kTimeout)) {
    if (observer_) {
      memory_.set_write_journal(nullptr);
      observer_->on_exit(exit, regs_at_exit, {});
    }
    return RunOutcome{.kind = RunOutcome::Kind::kPaused, .exit = exit};
  }
  ExitAction action = handler.handle(exit);
  if (observer_) {
    memory_.set_write_journal(nullptr);
    observer_->on_exit(exit, regs_at_exit, journal_);
    journal_.clear();
  }
  switch (action.kind) {
    case ExitAction::Kind::kContinue:
      return stepped;
    case ExitAction::Kind::kReturn:
      return end_call(
          RunOutcome{.kind = RunOutcome::Kind::kReturned, .value = std::move(action.value)});
    case ExitAction::Kind::kFault:
      return end_call(
          RunOutcome{.kind = RunOutcome::Kind::kFaulted, .fault = locate(std::move(action.fault))});
  }
  return std::nullopt;
}

RunOutcome Sandbox::end_call(RunOutcome outcome) {
  watchdog_->disarm();
  call_in_progress_ = false;
  if (!initialized()) {
    // The initialisation's result is the dispatcher's address.
    const auto* dispatch = std::get_if<int64_t>(&outcome.value);
    if (outcome.kind == RunOutcome::Kind::kReturned) {
      if (!dispatch || !is_guest_range(memory_, static_cast<uint64_t>(*dispatch), 1)) {
        outcome =
            RunOutcome{.kind = RunOutcome::Kind::kFaulted,
                       .fault = Fault{.kind = FaultKind::kGuestError,
                                      .message = "guest initialisation did not report a dispatcher "
                                                 "(is it built with the hlrr guest SDK?)"}};
      } else {
        dispatch_address_ = static_cast<uint64_t>(*dispatch);
      }
    }
  }
  if (observer_) {
    if (outcome.kind == RunOutcome::Kind::kReturned) {
      observer_->on_call_end(outcome.value);
    } else {
      observer_->on_call_end(base::Unexpected(outcome.fault));
    }
  }
  return outcome;
}

Fault Sandbox::locate(Fault fault) {
  if (auto regs = vcpu_->registers()) {
    fault.rip = regs->rip;
    fault.symbol = image_.symbols().describe(fault.rip);
  }
  return fault;
}

base::Expected<DirtyPageLog::Cursor> Sandbox::track_dirty_pages() {
  if (auto st = vcpu_->set_dirty_tracking(true); !st)
    return base::Unexpected(std::move(st).error());
  return memory_.dirty_log().open();
}

void Sandbox::supply_nondet(const VcpuExit& exit) {
  uint64_t rip = 0;
  if (observer_) {
    auto regs = vcpu_->registers();
    HLRR_CHECK(regs.has_value());
    rip = regs->rip;
  }
  const NondetValue v = vmm::supply_nondet(exit.nondet);
  vcpu_->set_nondet_result(v.value, v.extra);
  if (observer_) observer_->on_nondet(exit.nondet, rip, v.value, v.extra);
}

Snapshot Sandbox::snapshot() {
  // Restoring needs every page written from now on. Tracking costs the software vCPU ~20% on
  // store-heavy code, so it starts with the first snapshot, not before. Without it (a backend
  // that cannot track), restore() compares every page.
  if (!since_snapshot_.is_open()) {
    if (auto cursor = track_dirty_pages()) since_snapshot_ = std::move(*cursor);
  }
  Snapshot s;
  auto regs = vcpu_->registers();
  HLRR_CHECK(regs.has_value());
  s.registers_ = *regs;
  s.memory_.assign(memory_.host_base(), memory_.host_base() + memory_.size());
  s.id_ = next_snapshot_id_++;
  const bool tracked = since_snapshot_.is_open() && since_snapshot_.skip();
  base_snapshot_id_ = tracked ? s.id_ : 0;
  return s;
}

void Sandbox::restore_page(const Snapshot& snapshot, uint64_t page) {
  uint8_t* to = memory_.host_base() + page * HL_PAGE_SIZE;
  const uint8_t* from = snapshot.memory_.data() + page * HL_PAGE_SIZE;
  if (std::memcmp(to, from, HL_PAGE_SIZE) == 0) return;
  std::memcpy(to, from, HL_PAGE_SIZE);
  // Restored pages change under the guest: every other consumer of the log must see them.
  memory_.dirty_log().mark(page);
  // An observer (the recorder) sees a restore as what it is, host writes into guest memory:
  // they go with the next call's start, so a replay applies them too.
  if (observer_)
    journal_.push_back({page * HL_PAGE_SIZE, std::vector<uint8_t>(from, from + HL_PAGE_SIZE)});
}

bool Sandbox::is_code_page(uint64_t page) const {
  const uint64_t gpa = page * HL_PAGE_SIZE;
  for (const auto& seg : image_.segments()) {
    if (seg.executable && gpa < seg.vaddr + seg.memory_size && seg.vaddr < gpa + HL_PAGE_SIZE)
      return true;
  }
  return false;
}

base::Status Sandbox::restore(const Snapshot& snapshot) {
  HLRR_CHECK(snapshot.memory_.size() == memory_.size());
  scratch_pages_.clear();
  // The latest snapshot: only the pages written since. Any other (or a log that failed): all.
  if (snapshot.id_ == base_snapshot_id_ && since_snapshot_.take(scratch_pages_)) {
    for (uint64_t page : scratch_pages_) {
      restore_page(snapshot, page);
      // Restored code must not run from stale translations; data pages need nothing.
      if (is_code_page(page)) vcpu_->code_modified(page * HL_PAGE_SIZE, HL_PAGE_SIZE);
    }
  } else {
    for (uint64_t page = 0; page < memory_.page_count(); ++page) restore_page(snapshot, page);
    for (const auto& seg : image_.segments()) {
      if (seg.executable) vcpu_->code_modified(seg.vaddr, seg.memory_size);
    }
  }
  // What this restore wrote is the snapshot's state, no change since it.
  const bool tracked = since_snapshot_.is_open() && since_snapshot_.skip();
  base_snapshot_id_ = tracked ? snapshot.id_ : 0;
  return vcpu_->set_registers(snapshot.registers_);
}

}  // namespace hlrr::vmm
