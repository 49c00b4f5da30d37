#include "vmm/dirty_page_log.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "base/check.h"

namespace hlrr::vmm {
namespace {
constexpr uint64_t kPageSize = 0x1000;
// Entries beyond twice the page count that trigger a compaction.
constexpr uint64_t kCompactSlack = 256;
}  // namespace

void DirtyPageLog::mark_pages(uint64_t gpa, uint64_t len) {
  if (len == 0 || open_cursors_ == 0) return;
  const uint64_t last = (gpa + len - 1) / kPageSize;
  for (uint64_t page = gpa / kPageSize; page <= last && page < page_count_; ++page) mark(page);
}

void DirtyPageLog::append(uint64_t page) {
  marked_in_[page] = epoch_;
  entries_.push_back(page);
}

DirtyPageLog::Cursor DirtyPageLog::open() {
  if (marked_in_.empty()) {
    // Allocated with the first cursor: a guest nobody tracks costs nothing per page.
    marked_in_.assign(page_count_, kNever);
    seen_.assign(page_count_, 0);
  }
  // Writes not collected yet precede the new cursor: they are the other cursors' (or nobody's).
  // A lazy collector (the software vCPU's) relies on this to know when it must become exact.
  if (collector_) (void)collector_();
  // Pages marked in the current epoch are behind the new cursor: a new epoch appends them again.
  ++epoch_;
  ++open_cursors_;
  const uint64_t now = first_entry_ + entries_.size();
  for (size_t slot = 0; slot < positions_.size(); ++slot) {
    if (positions_[slot] == kClosed) {
      positions_[slot] = now;
      return Cursor(this, slot);
    }
  }
  positions_.push_back(now);
  return Cursor(this, positions_.size() - 1);
}

base::Status DirtyPageLog::take(size_t slot, std::vector<uint64_t>* pages) {
  HLRR_CHECK(slot < positions_.size() && positions_[slot] != kClosed);
  if (collector_) {
    if (auto st = collector_(); !st) return st;
  }
  const uint64_t end = first_entry_ + entries_.size();
  if (pages) {
    // A page appended in several epochs since this cursor is reported once.
    const size_t from = pages->size();
    for (uint64_t i = positions_[slot] - first_entry_; i < entries_.size(); ++i) {
      const uint64_t page = entries_[i];
      if (seen_[page]) continue;
      seen_[page] = 1;
      pages->push_back(page);
    }
    for (size_t i = from; i < pages->size(); ++i) seen_[(*pages)[i]] = 0;
  }
  positions_[slot] = end;
  ++epoch_;
  trim();
  if (entries_.size() > 2 * page_count_ + kCompactSlack) compact();
  return {};
}

void DirtyPageLog::close(size_t slot) {
  positions_[slot] = kClosed;
  --open_cursors_;
  trim();
}

void DirtyPageLog::trim() {
  // Entries every open cursor has passed are nobody's any more.
  uint64_t oldest = first_entry_ + entries_.size();
  for (uint64_t p : positions_) {
    if (p != kClosed) oldest = std::min(oldest, p);
  }
  const uint64_t passed = oldest - first_entry_;
  if (passed == entries_.size()) {
    entries_.clear();
  } else if (passed > 0 && passed >= entries_.size() / 2) {
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(passed));
  } else {
    return;
  }
  first_entry_ = oldest;
}

void DirtyPageLog::compact() {
  // A cursor that lags (a snapshot nobody restores) would let the entries grow with every other
  // consumer's takes. Only a page's latest entry matters: a cursor before an earlier one of the
  // page is before the latest too. Keep those, and move every cursor to the same kept entry.
  std::vector<uint8_t> keep(entries_.size(), 0);
  for (size_t i = entries_.size(); i-- > 0;) {
    if (seen_[entries_[i]]) continue;
    seen_[entries_[i]] = 1;
    keep[i] = 1;
  }
  std::vector<uint64_t> kept_before(entries_.size() + 1);
  std::vector<uint64_t> kept;
  for (size_t i = 0; i < entries_.size(); ++i) {
    kept_before[i] = kept.size();
    if (!keep[i]) continue;
    seen_[entries_[i]] = 0;
    kept.push_back(entries_[i]);
  }
  kept_before[entries_.size()] = kept.size();
  for (uint64_t& p : positions_) {
    if (p != kClosed) p = first_entry_ + kept_before[p - first_entry_];
  }
  entries_ = std::move(kept);
}

DirtyPageLog::Cursor::Cursor(Cursor&& other) noexcept
    : log_(std::exchange(other.log_, nullptr)), slot_(other.slot_) {}

DirtyPageLog::Cursor& DirtyPageLog::Cursor::operator=(Cursor&& other) noexcept {
  if (this != &other) {
    if (log_) log_->close(slot_);
    log_ = std::exchange(other.log_, nullptr);
    slot_ = other.slot_;
  }
  return *this;
}

DirtyPageLog::Cursor::~Cursor() {
  if (log_) log_->close(slot_);
}

base::Status DirtyPageLog::Cursor::take(std::vector<uint64_t>& pages) {
  HLRR_CHECK(log_);
  return log_->take(slot_, &pages);
}

base::Status DirtyPageLog::Cursor::skip() {
  HLRR_CHECK(log_);
  return log_->take(slot_, nullptr);
}

}  // namespace hlrr::vmm
