#include "replay/delta_digest.h"

#include <algorithm>

#include "base/hex.h"
#include "trace_format/file_layout.h"

namespace hlrr::replay {

base::Expected<DeltaDigest> digest(const trace::MemoryDelta& delta, uint64_t memory_size,
                                   size_t chunk, size_t record) {
  DeltaDigest d{delta.exit_sequence, chunk, record, {}};
  const std::string where = "memory delta after exit " + std::to_string(delta.exit_sequence);
  const auto in_memory = [&](uint64_t address) -> base::Status {
    if (address > memory_size || memory_size - address < trace::kPageSize) {
      return base::fail(where + ": page " + base::hex(address) + " is not guest memory (" +
                        std::to_string(memory_size >> 20) + " MiB)");
    }
    return {};
  };
  d.pages.reserve(delta.pages.size() + delta.page_digests.size());
  for (const auto& page : delta.pages) {
    if (auto st = in_memory(page.address); !st) return base::Unexpected(std::move(st).error());
    if (page.bytes.size() != trace::kPageSize) {
      return base::fail(where + ": page " + base::hex(page.address) + " is not 4096 bytes");
    }
    d.pages.emplace_back(page.address, trace::checksum(page.bytes));
  }
  // Format 1.5: pages recorded by their checksum only are compared the same way.
  for (const auto& page : delta.page_digests) {
    if (auto st = in_memory(page.address); !st) return base::Unexpected(std::move(st).error());
    d.pages.emplace_back(page.address, page.checksum);
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
