// FakeTarget: an rsp::Target with no VM behind it, for tests and the fuzzer.
//
// 64 KiB of memory at address 0, a register file, breakpoints, and a step model: executing the
// instruction at rip adds 1 to rip (and to rax). Optional per-address behaviour: a memory
// access (for watchpoints), a fault, and an exit address where the guest finishes. The reverse
// extension (enabled with `reverse = true`) undoes steps from a history.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "rsp/target.h"

namespace hlrr::rsp::testing {

class FakeTarget : public Target, public ReverseExecution, public MonitorCommands {
 public:
  static constexpr uint64_t kMemorySize = 0x10000;
  static constexpr uint64_t kStartRip = 0x1000;

  struct Access {
    uint64_t address;
    bool write;
  };
  struct Watchpoint {
    BreakpointKind kind;
    uint64_t address;
    uint64_t length;
  };

  FakeTarget() : memory_(kMemorySize) { reset(); }

  // Returns registers, memory, breakpoints, history and observations to their state at
  // construction (the configuration below is the caller's). Cheap: only memory written since is
  // refilled, so the fuzzer reuses one target instead of building one per input.
  void reset() {
    regs_ = {};
    set_register(regs_, kRip, kStartRip);
    set_register(regs_, kRsp, 0x8000);
    set_register(regs_, kRbp, 0);
    set_register(regs_, kRax, 0x1122334455667788);
    set_register(regs_, kEflags, 0x202);
    set_register(regs_, kCs, 0x8);
    set_register(regs_, kSs, 0x10);
    set_register(regs_, kFctrl, 0x37f);
    set_register(regs_, kMxcsr, 0x1f80);
    for (uint64_t i = dirty_begin_; i < dirty_end_; ++i) memory_[i] = static_cast<uint8_t>(i * 7);
    dirty_begin_ = kMemorySize;
    dirty_end_ = 0;
    breakpoints_.clear();
    watchpoints_.clear();
    history_.clear();
    history_begin_ = 0;
    killed = false;
    detached = false;
    memory_reads = 0;
  }

  // --- Configuration (set before serving) ---
  bool reverse_enabled = false;
  bool monitor_enabled = true;
  bool hardware_breakpoints = true;
  std::optional<uint64_t> exit_at = 0x2000;  // reaching this rip exits with exit_code
  uint8_t exit_code = 0;
  // Memory reads served so far (read from the test thread while the server runs).
  std::atomic<uint64_t> memory_reads{0};
  std::map<uint64_t, Access> accesses;      // the instruction at rip accesses memory
  std::map<uint64_t, uint8_t> faults;       // the instruction at rip faults with a signal
  std::chrono::microseconds step_delay{0};  // slows continue down (interrupt tests)
  uint64_t max_continue_steps = 0;          // 0: unlimited; else continue stops (SIGTRAP)
  std::string exec_path;
  std::vector<uint8_t> exec_bytes;

  // --- Observations ---
  bool killed = false;
  bool detached = false;
  RegisterFile& regs() { return regs_; }
  std::vector<uint8_t>& memory() {
    mark_dirty(0, kMemorySize);  // the caller may write any of it
    return memory_;
  }
  const std::set<std::pair<BreakpointKind, uint64_t>>& breakpoints() const { return breakpoints_; }
  const std::vector<Watchpoint>& watchpoints() const { return watchpoints_; }
  uint64_t rip() const { return get_register(regs_, kRip); }

  // --- Target ---
  base::Status read_registers(RegisterFile& out) override {
    out = regs_;
    return {};
  }
  base::Status write_registers(const RegisterFile& in) override {
    regs_ = in;
    return {};
  }
  base::Status read_memory(uint64_t address, std::span<uint8_t> out) override {
    ++memory_reads;
    if (address > kMemorySize || out.size() > kMemorySize - address) {
      return base::fail("memory read outside guest memory");
    }
    std::copy_n(memory_.begin() + static_cast<std::ptrdiff_t>(address), out.size(), out.begin());
    return {};
  }
  base::Status write_memory(uint64_t address, std::span<const uint8_t> data) override {
    if (address > kMemorySize || data.size() > kMemorySize - address) {
      return base::fail("memory write outside guest memory");
    }
    std::copy(data.begin(), data.end(), memory_.begin() + static_cast<std::ptrdiff_t>(address));
    mark_dirty(address, address + data.size());
    return {};
  }

  StopInfo resume(ResumeAction action, std::stop_token stop) override {
    if (action == ResumeAction::kStep) return step_once().value_or(StopInfo::stopped());
    for (uint64_t steps = 1;; ++steps) {
      if (stop.stop_requested()) return StopInfo::interrupted();
      if (auto stopped = step_once()) return *stopped;
      if (max_continue_steps != 0 && steps >= max_continue_steps) return StopInfo::stopped();
      if (breakpoints_.contains({BreakpointKind::kSoftware, rip()})) return StopInfo::sw_break();
      if (breakpoints_.contains({BreakpointKind::kHardware, rip()})) return StopInfo::hw_break();
      if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
    }
  }

  base::Status insert_breakpoint(BreakpointKind kind, uint64_t address, uint64_t length) override {
    if (kind == BreakpointKind::kSoftware || kind == BreakpointKind::kHardware) {
      breakpoints_.insert({kind, address});
    } else {
      watchpoints_.push_back({kind, address, length});
    }
    return {};
  }
  base::Status remove_breakpoint(BreakpointKind kind, uint64_t address, uint64_t length) override {
    if (kind == BreakpointKind::kSoftware || kind == BreakpointKind::kHardware) {
      if (breakpoints_.erase({kind, address}) == 0) return base::fail("no such breakpoint");
      return {};
    }
    auto it = std::find_if(watchpoints_.begin(), watchpoints_.end(), [&](const Watchpoint& w) {
      return w.kind == kind && w.address == address && w.length == length;
    });
    if (it == watchpoints_.end()) return base::fail("no such watchpoint");
    watchpoints_.erase(it);
    return {};
  }
  bool supports_breakpoint(BreakpointKind kind) const override {
    return kind != BreakpointKind::kHardware || hardware_breakpoints;
  }

  base::Status kill() override {
    killed = true;
    return {};
  }
  base::Status detach() override {
    detached = true;
    return {};
  }
  std::string exec_file_path() const override { return exec_path; }
  std::span<const uint8_t> exec_file_bytes() const override { return exec_bytes; }
  std::vector<MemoryRegion> memory_regions() const override {
    return {MemoryRegion{0x1000, 0x3000, true, false, true, "text"},
            MemoryRegion{0x4000, kMemorySize - 0x4000, true, true, false, "data"}};
  }
  ReverseExecution* reverse() override { return reverse_enabled ? this : nullptr; }
  MonitorCommands* monitor() override { return monitor_enabled ? this : nullptr; }

  // --- ReverseExecution ---
  StopInfo reverse_step(std::stop_token) override {
    if (history_empty()) return StopInfo::replay_begin();
    undo();
    return StopInfo::stopped();
  }
  StopInfo reverse_continue(std::stop_token stop) override {
    for (;;) {
      if (stop.stop_requested()) return StopInfo::interrupted();
      if (history_empty()) return StopInfo::replay_begin();
      undo();
      if (breakpoints_.contains({BreakpointKind::kSoftware, rip()})) return StopInfo::sw_break();
    }
  }

  // --- MonitorCommands ---
  std::vector<Command> commands() const override {
    return {{"where", "print the instruction pointer"}, {"echo", "print the arguments"}};
  }
  base::Expected<std::string> run(std::string_view line) override {
    if (line == "where") return "rip=0x" + hex(rip()) + "\n";
    if (line.starts_with("echo ")) return std::string(line.substr(5)) + "\n";
    return base::fail("no such command: " + std::string(line));
  }

 private:
  struct HistoryEntry {
    RegisterFile regs;
    std::optional<std::pair<uint64_t, uint8_t>> old_byte;
  };

  static std::string hex(uint64_t value) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(value));
    return buf;
  }

  // Executes one instruction; returns a stop if it ended in one (fault, watchpoint, exit).
  std::optional<StopInfo> step_once() {
    const uint64_t pc = rip();
    if (exit_at && pc == *exit_at) return StopInfo::exited(exit_code);
    if (auto fault = faults.find(pc); fault != faults.end()) return StopInfo::fault(fault->second);
    HistoryEntry entry{regs_, std::nullopt};
    std::optional<StopInfo> hit;
    if (auto access = accesses.find(pc); access != accesses.end()) {
      const Access& a = access->second;
      if (a.write && a.address < kMemorySize) {
        entry.old_byte = std::pair{a.address, memory_[a.address]};
        memory_[a.address] = static_cast<uint8_t>(pc);
        mark_dirty(a.address, a.address + 1);
      }
      for (const Watchpoint& w : watchpoints_) {
        if (a.address < w.address || a.address >= w.address + w.length) continue;
        if (w.kind == BreakpointKind::kWriteWatch && a.write) {
          hit = StopInfo::watch(StopInfo::Kind::kWatch, a.address);
        } else if (w.kind == BreakpointKind::kReadWatch && !a.write) {
          hit = StopInfo::watch(StopInfo::Kind::kRWatch, a.address);
        } else if (w.kind == BreakpointKind::kAccessWatch) {
          hit = StopInfo::watch(StopInfo::Kind::kAWatch, a.address);
        }
        if (hit) break;
      }
    }
    push_history(entry);
    set_register(regs_, kRip, pc + 1);
    set_register(regs_, kRax, get_register(regs_, kRax) + 1);
    if (hit) return hit;
    if (exit_at && rip() == *exit_at) return StopInfo::exited(exit_code);
    return std::nullopt;
  }

  void mark_dirty(uint64_t begin, uint64_t end) {
    dirty_begin_ = std::min(dirty_begin_, begin);
    dirty_end_ = std::max(dirty_end_, end);
  }

  // history_[history_begin_, end) is the history, oldest first: a vector rather than a deque
  // (whose 576-byte entries would cost an allocation each), trimmed from the front in bulk.
  bool history_empty() const { return history_.size() == history_begin_; }
  void push_history(const HistoryEntry& entry) {
    history_.push_back(entry);
    if (history_.size() - history_begin_ > kMaxHistory) ++history_begin_;
    if (history_begin_ == kMaxHistory) {
      history_.erase(history_.begin(), history_.begin() + kMaxHistory);
      history_begin_ = 0;
    }
  }

  void undo() {
    HistoryEntry entry = history_.back();
    history_.pop_back();
    regs_ = entry.regs;
    if (entry.old_byte) memory_[entry.old_byte->first] = entry.old_byte->second;
  }

  RegisterFile regs_{};
  std::vector<uint8_t> memory_;
  uint64_t dirty_begin_ = 0;  // memory_[dirty_begin_, dirty_end_) may differ from the fill
  uint64_t dirty_end_ = kMemorySize;
  std::set<std::pair<BreakpointKind, uint64_t>> breakpoints_;
  std::vector<Watchpoint> watchpoints_;
  static constexpr std::size_t kMaxHistory = 1 << 16;
  std::vector<HistoryEntry> history_;
  std::size_t history_begin_ = 0;
};

}  // namespace hlrr::rsp::testing
