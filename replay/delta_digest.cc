#include "replay/delta_digest.h"

#include <algorithm>

#include "base/hex.h"
#include "trace_format/file_layout.h"

namespace hlrr::replay {

base::Expected<DeltaDigest> digest(const trace::MemoryDelta& delta, uint64_t memory_size,
                                   size_t chunk, size_t record) {
  DeltaDigest d{delta.exit_sequence, chunk, record, {}};
  const std::string where = "memory delta after exit " + std::to_string(delta.exit_sequence);
  d.pages.reserve(delta.pages.size());
  for (const auto& page : delta.pages) {
    if (page.address > memory_size || memory_size - page.address < trace::kPageSize ||
        page.bytes.size() != trace::kPageSize) {
      return base::fail(where + ": page " + base::hex(page.address) + " is not guest memory (" +
                        std::to_string(memory_size >> 20) + " MiB)");
    }
    d.pages.emplace_back(page.address, trace::checksum(page.bytes));
  }
  std::vector<uint64_t> addresses(d.pages.size());
  std::transform(d.pages.begin(), d.pages.end(), addresses.begin(),
                 [](const auto& p) { return p.first; });
  std::sort(addresses.begin(), addresses.end());
  if (auto twice = std::adjacent_find(addresses.begin(), addresses.end());
      twice != addresses.end()) {
    return base::fail(where + ": page " + base::hex(*twice) + " is listed twice");
  }
  return d;
}

uint64_t max_chunk_bytes(uint64_t memory_size) {
  return 2 * memory_size + (uint64_t{1} << 20);
}

}  // namespace hlrr::replay
