#include "replay/activity_map.h"

#include <unordered_map>

#include "trace_format/records.h"
#include "vmm/code_log.h"

namespace hlrr::replay {

void ActivityMap::add(uint64_t first, uint64_t last, std::span<const uint64_t> lines,
                      std::span<const uint64_t> pages) {
  WindowSet unknown;
  known_.add_gaps(first, last, unknown);
  if (unknown.empty()) return;
  // One lookup per line or page, then every unknown range under it.
  const auto file = [&](std::unordered_map<uint64_t, WindowSet>& sets,
                        std::span<const uint64_t> keys) {
    for (uint64_t key : keys) {
      WindowSet& set = sets.try_emplace(key, kRanges).first->second;
      for (const auto& r : unknown.ranges()) set.add(r.first, r.last);
    }
  };
  file(lines_, lines);
  file(pages_, pages);
}

size_t ActivityMap::known_windows() const {
  size_t n = 0;
  for (const auto& r : known_.ranges()) n += r.last - r.first + 1;
  return n;
}

void ActivityMap::add_candidates(const vmm::DebugPoint& point, uint64_t first, uint64_t last,
                                 WindowSet& out) const {
  known_.add_gaps(first, last, out);
  switch (point.kind) {
    case vmm::DebugPointKind::kBreakpoint: {
      if (auto it = lines_.find(point.address >> vmm::CodeLog::kLineShift); it != lines_.end()) {
        it->second.add_overlap(first, last, out);
      }
      return;
    }
    case vmm::DebugPointKind::kWriteWatch: {
      const uint64_t from = point.address / trace::kPageSize;
      const uint64_t to =
          (point.address + (point.length ? point.length - 1 : 0)) / trace::kPageSize;
      for (uint64_t page = from; page <= to; ++page) {
        if (auto it = pages_.find(page); it != pages_.end())
          it->second.add_overlap(first, last, out);
      }
      return;
    }
    default:
      out.add(first, last);
  }
}

size_t ActivityMap::bytes() const {
  size_t n = known_.bytes();
  // A node of an unordered_map: the pair, a next pointer and the cached hash; plus its bucket.
  constexpr size_t kNode = sizeof(std::pair<const uint64_t, WindowSet>) + 3 * sizeof(void*);
  for (const auto& [line, set] : lines_) n += kNode + set.bytes();
  for (const auto& [page, set] : pages_) n += kNode + set.bytes();
  return n;
}

}  // namespace hlrr::replay
