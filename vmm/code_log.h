// CodeLog: where guest code ran, fed by the software vCPU's block hook.
//
// Two views: the 64-byte lines of code that ran since the last collect() (replay's Timeline files
// them per window in its activity map, so a reverse continue scans only the windows that ran a
// breakpoint's line), and the pages on which code ran since the last forget(), which bound where
// translations can exist (one is made only to run it): what has to be dropped when a hook
// changes how every instruction is translated, instead of all of guest memory.
#pragma once

#include <cstdint>
#include <vector>

namespace hlrr::vmm {

class CodeLog {
 public:
  static constexpr unsigned kLineShift = 6;
  static constexpr unsigned kPageShift = 12;

  explicit CodeLog(uint64_t memory_size)
      : lines_(memory_size >> kLineShift, 0), pages_(memory_size >> kPageShift, 0) {}

  // A block of `size` bytes at `address` is about to run (every block hook calls it: a load
  // and a compare a line when the lines are known already).
  void ran(uint64_t address, uint32_t size) {
    const uint64_t last = (address + (size ? size - 1 : 0)) >> kLineShift;
    // Read once: the byte stores below may alias the vector's own fields, so the compiler
    // would reload them on every iteration.
    uint8_t* const lines = lines_.data();
    const uint64_t line_count = lines_.size();
    for (uint64_t line = address >> kLineShift; line <= last && line < line_count; ++line) {
      if (lines[line]) continue;
      lines[line] = 1;
      recent_.push_back(line);
      pages_[line >> (kPageShift - kLineShift)] = 1;
    }
  }

  // Adds the lines that ran since the previous call to `lines` (unsorted) and starts anew.
  void collect(std::vector<uint64_t>& lines) {
    for (uint64_t line : recent_) lines_[line] = 0;
    lines.insert(lines.end(), recent_.begin(), recent_.end());
    recent_.clear();
  }
  // Every page on which code ran since forget(), as ranges of consecutive pages [first, last].
  template <typename F>
  void for_each_page_range(F&& visit) const {
    for (uint64_t page = 0; page < pages_.size();) {
      if (!pages_[page]) {
        ++page;
        continue;
      }
      uint64_t end = page;
      while (end + 1 < pages_.size() && pages_[end + 1]) ++end;
      visit(page, end);
      page = end + 1;
    }
  }
  // Every translation was dropped. The lines since collect() stay (they ran).
  void forget() {
    for (auto& p : pages_) p = 0;
    // A page of a line already known as recent must be marked again when it next runs.
    for (uint64_t line : recent_) pages_[line >> (kPageShift - kLineShift)] = 1;
  }

 private:
  std::vector<uint8_t> lines_;  // 1: ran since collect()
  std::vector<uint8_t> pages_;  // 1: code ran there since forget()
  std::vector<uint64_t> recent_;
};

}  // namespace hlrr::vmm
