#include "vmm/memory_shadow.h"

#include <cstring>

namespace hlrr::vmm {

namespace {
constexpr uint64_t kPage = GuestMemory::kPageSize;
const uint8_t kZeroPage[kPage] = {};
}  // namespace

MemoryShadow::MemoryShadow(const GuestMemory& memory)
    : memory_(memory), pages_(memory.page_count()) {
  const uint8_t* base = memory.host_base();
  const std::vector<bool> backed = memory.backed_pages();
  for (uint64_t page = 0; page < pages_.size(); ++page) {
    const uint8_t* bytes = base + page * kPage;
    if (!backed[page] || std::memcmp(bytes, kZeroPage, kPage) == 0) continue;
    pages_[page] = std::make_unique_for_overwrite<uint8_t[]>(kPage);
    std::memcpy(pages_[page].get(), bytes, kPage);
  }
}

void MemoryShadow::compare(std::vector<uint64_t>& pages, bool update) {
  const uint8_t* base = memory_.host_base();
  const std::vector<bool> backed = memory_.backed_pages();
  for (uint64_t page = 0; page < pages_.size(); ++page) {
    Page& copy = pages_[page];
    if (!backed[page] && !copy) continue;  // zeros then and now, not read
    const uint8_t* now = base + page * kPage;
    if (std::memcmp(now, copy ? copy.get() : kZeroPage, kPage) == 0) continue;
    pages.push_back(page);
    if (!update) continue;
    if (!copy) copy = std::make_unique_for_overwrite<uint8_t[]>(kPage);
    std::memcpy(copy.get(), now, kPage);
  }
}

}  // namespace hlrr::vmm
