// ActivityMap: what the guest did in each window of `window` instructions that replay ran whole,
// from the window's first instruction to its last without a jump: the 64-byte code lines that
// ran (vmm::CodeLog) and the pages written (vmm::DirtyPageLog). Replay files what it did at its
// own stops, not at every window's end (a stop costs Unicorn more than the window's bookkeeping):
// a run across several windows is filed under each of them, so a window's lines and pages are
// those of the runs that covered it (more to scan, never a hit missed). Kept per line and per page,
// as the set of windows it ran or was written in (WindowSet, ranges: a loop's lines run in every
// window, one range), so that its size follows what the guest does rather than the recording's
// length.
//
// A reverse continue asks it where in an interval a break- or write watchpoint can hit: only in
// the windows that ran the breakpoint's line or wrote the watched pages, and in those not known.
// The rest of the interval is replayed plainly or not at all (Timeline::continue_backward). A
// line or page in more scattered windows than 2 * kRanges ranges of them is recorded in the gaps
// between them too (more to scan, never a hit missed): the map's size is bounded by the number
// of lines and pages, whatever the recording's length.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>

#include "replay/window_set.h"
#include "vmm/vcpu.h"

namespace hlrr::replay {

class ActivityMap {
 public:
  static constexpr size_t kRanges = 8;

  explicit ActivityMap(uint64_t window) : window_(window) {}

  // Instructions per window: window i is [i * window, (i + 1) * window).
  uint64_t window() const { return window_; }
  // Replay ran through (part of) windows [first, last], running `lines` and writing `pages`:
  // filed under those of them not known yet (a known window is left as it is: replay is
  // deterministic, and a long run would only widen it).
  void add(uint64_t first, uint64_t last, std::span<const uint64_t> lines,
           std::span<const uint64_t> pages);
  // Windows [first, last] ran whole (the recording's last one: to its end), every part of them
  // add()ed: what they did is known.
  void mark_known(uint64_t first, uint64_t last) { known_.add(first, last); }
  bool known(uint64_t index) const { return known_.contains(index); }
  size_t known_windows() const;
  // Adds to `out` the windows of [first, last] in which `point` may hit: those not known, and
  // those that ran its line (a breakpoint) or wrote its pages (a write watchpoint); all of them
  // for a read or access watchpoint, which leaves no trace here.
  void add_candidates(const vmm::DebugPoint& point, uint64_t first, uint64_t last,
                      WindowSet& out) const;
  // Heap bytes held (roughly), for `monitor checkpoints`.
  size_t bytes() const;

 private:
  uint64_t window_;
  WindowSet known_;
  std::unordered_map<uint64_t, WindowSet> lines_;  // by code line (address >> kLineShift)
  std::unordered_map<uint64_t, WindowSet> pages_;  // by page
};

}  // namespace hlrr::replay
