// DirtyPageLog: the one record of which guest pages were written, by the guest (through the
// vCPU) or by the host, shared by everyone who asks "what changed since I last looked": a
// sandbox's snapshots, a recorder's memory deltas, replay's checkpoints. Each such consumer holds
// a Cursor; take() returns the pages written since that cursor's previous take (or its opening),
// each once, and moves it to now. Writers mark pages: O(1), deduplicated. A source that keeps a
// record of its own (KVM's dirty bitmap) is a collector, pulled in before every take.
//
// GuestMemory owns the log (its address is stable); it is used on the thread driving the guest.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "base/expected.h"

namespace hlrr::vmm {

class DirtyPageLog {
 public:
  class Cursor;

  explicit DirtyPageLog(uint64_t page_count) : page_count_(page_count) {}
  DirtyPageLog(const DirtyPageLog&) = delete;
  DirtyPageLog& operator=(const DirtyPageLog&) = delete;

  uint64_t page_count() const { return page_count_; }
  // Entries kept: at most about twice the page count, however far a cursor lags (for tests).
  size_t entry_count() const { return entries_.size(); }

  // Page `page` was written (pages outside guest memory are ignored). Free while no cursor is
  // open: nobody could ask.
  void mark(uint64_t page) {
    if (open_cursors_ == 0 || page >= page_count_ || marked_in_[page] == epoch_) return;
    append(page);
  }
  // The bytes [gpa, gpa + len) were written. Inline for a store within one page, which the
  // software vCPU reports for nearly every store of the guest.
  void mark_range(uint64_t gpa, uint64_t len) {
    if (len != 0 && (gpa ^ (gpa + len - 1)) < kPageBytes) return mark(gpa / kPageBytes);
    mark_pages(gpa, len);
  }

  // A consumer's position: pages written after it are the consumer's to take. Opened at "now".
  [[nodiscard]] Cursor open();

  // `collect` brings in writes recorded elsewhere (by mark()ing them); it runs before every
  // take() and skip(), and its failure is theirs; and before every open(), so that writes
  // before the new cursor are not its (a failure there leaves them for the next take, which
  // then reports them to the new cursor too: harmless). One at a time; an empty function
  // removes it.
  void set_collector(std::function<base::Status()> collect) { collector_ = std::move(collect); }
  bool has_collector() const { return static_cast<bool>(collector_); }

 private:
  friend class Cursor;
  static constexpr uint64_t kPageBytes = 0x1000;
  static constexpr uint64_t kClosed = ~0ull;
  static constexpr uint64_t kNever = ~0ull;

  void mark_pages(uint64_t gpa, uint64_t len);
  // A page's first mark in this epoch. Out of line, so that the test in mark(), inlined into
  // the software vCPU's write hook (called on every guest store), saves no registers.
  [[gnu::noinline]] void append(uint64_t page);
  base::Status take(size_t slot, std::vector<uint64_t>* pages);
  void close(size_t slot);
  void trim();
  void compact();

  uint64_t page_count_ = 0;
  // Pages in the order they were first written in each epoch; an epoch ends at every take, so
  // a page written again after some cursor passed it is appended again.
  std::vector<uint64_t> entries_;
  uint64_t first_entry_ = 0;         // the absolute position of entries_[0]
  std::vector<uint64_t> marked_in_;  // per page: the epoch it was last appended in (kNever)
  uint64_t epoch_ = 0;
  std::vector<uint64_t> positions_;  // per cursor slot: its absolute position, or kClosed
  size_t open_cursors_ = 0;
  std::vector<uint8_t> seen_;  // take()'s scratch: one byte per page, all zero between takes
  std::function<base::Status()> collector_;
};

class DirtyPageLog::Cursor {
 public:
  Cursor() = default;
  Cursor(Cursor&& other) noexcept;
  Cursor& operator=(Cursor&& other) noexcept;
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  bool is_open() const { return log_ != nullptr; }
  // Appends the pages written since this cursor's previous take (or its opening) to `pages`,
  // each once, and moves the cursor to now. Fails only where a collector fails (KVM's dirty log
  // ioctl); the cursor then stays where it was.
  base::Status take(std::vector<uint64_t>& pages);
  // Moves the cursor to now without reading: its consumer has just made memory what it wants.
  base::Status skip();

 private:
  friend class DirtyPageLog;
  Cursor(DirtyPageLog* log, size_t slot) : log_(log), slot_(slot) {}
  DirtyPageLog* log_ = nullptr;
  size_t slot_ = 0;
};

}  // namespace hlrr::vmm
