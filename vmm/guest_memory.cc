#include "vmm/guest_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace hlrr::vmm {

namespace {
std::string range_error(uint64_t gpa, uint64_t len, uint64_t size) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "guest range 0x%llx+0x%llx is outside guest memory (0x%llx bytes)",
                static_cast<unsigned long long>(gpa), static_cast<unsigned long long>(len),
                static_cast<unsigned long long>(size));
  return buf;
}
}  // namespace

base::Expected<GuestMemory> GuestMemory::create(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    return base::fail("guest memory size must be a non-zero multiple of 4 KiB");
  }
  // MAP_NORESERVE: pages cost nothing until the guest touches them, so creation is O(1).
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    return base::fail(std::string("cannot map guest memory: ") + std::strerror(errno));
  }
  return GuestMemory(static_cast<uint8_t*>(p), size);
}

GuestMemory::GuestMemory(uint8_t* base, uint64_t size)
    : base_(base), size_(size), dirty_log_(std::make_unique<DirtyPageLog>(size / kPageSize)) {}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      dirty_log_(std::move(other.dirty_log_)),
      journal_(std::exchange(other.journal_, nullptr)) {}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
  if (this != &other) {
    if (base_) munmap(base_, size_);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    dirty_log_ = std::move(other.dirty_log_);
    journal_ = std::exchange(other.journal_, nullptr);
  }
  return *this;
}

GuestMemory::~GuestMemory() {
  if (base_) munmap(base_, size_);
}

base::Status GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
  if (!contains(gpa, out.size())) return base::fail(range_error(gpa, out.size(), size_));
  if (!out.empty()) std::memcpy(out.data(), base_ + gpa, out.size());  // empty spans may be null
  return {};
}

base::Status GuestMemory::write(uint64_t gpa, std::span<const uint8_t> data) {
  if (!contains(gpa, data.size())) return base::fail(range_error(gpa, data.size(), size_));
  if (data.empty()) return {};  // an empty span may be null
  std::memcpy(base_ + gpa, data.data(), data.size());
  dirty_log_->mark_range(gpa, data.size());
  if (journal_) journal_->push_back({gpa, std::vector<uint8_t>(data.begin(), data.end())});
  return {};
}

base::Expected<std::string> GuestMemory::read_string(uint64_t gpa, uint64_t len) const {
  if (!contains(gpa, len)) return base::fail(range_error(gpa, len, size_));
  return std::string(reinterpret_cast<const char*>(base_ + gpa), len);
}

std::vector<bool> GuestMemory::backed_pages() const {
  const uint64_t pages = page_count();
  std::vector<bool> backed(pages, true);
  // One 64-bit entry per virtual page: bit 63 present, bit 62 swapped (Documentation/admin-guide/
  // mm/pagemap.rst); the flags need no privilege, only the frame numbers do.
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return backed;
  constexpr uint64_t kPresentOrSwapped = 3ull << 62;
  std::vector<uint64_t> entries(std::min<uint64_t>(pages, 4096));
  const uint64_t first = reinterpret_cast<uintptr_t>(base_) / kPageSize;
  for (uint64_t page = 0; page < pages;) {
    const uint64_t n = std::min<uint64_t>(entries.size(), pages - page);
    const ssize_t got = ::pread(fd, entries.data(), n * sizeof(uint64_t),
                                static_cast<off_t>((first + page) * sizeof(uint64_t)));
    if (got != static_cast<ssize_t>(n * sizeof(uint64_t))) {
      backed.assign(pages, true);  // a short read: trust nothing read so far
      break;
    }
    for (uint64_t i = 0; i < n; ++i) backed[page + i] = (entries[i] & kPresentOrSwapped) != 0;
    page += n;
  }
  ::close(fd);
  return backed;
}

}  // namespace hlrr::vmm
