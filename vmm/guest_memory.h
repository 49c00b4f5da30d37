// GuestMemory: the guest's physical memory, one host mapping shared by whichever vCPU backend
// runs the guest (Unicorn maps it with uc_mem_map_ptr, KVM registers it as a memory slot), so
// the host reads and writes guest memory the same way whatever executes it.
//
// Every access from the host is bounds-checked and returns an error for any range outside the
// mapping: a guest cannot make the host touch memory it does not own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "vmm/dirty_page_log.h"

namespace hlrr::vmm {

// Bytes the host wrote into guest memory.
struct HostWrite {
  uint64_t address = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const HostWrite&) const = default;
};

class GuestMemory {
 public:
  static constexpr uint64_t kPageSize = 0x1000;

  // Maps `size` bytes (a multiple of the page size) of zeroed memory.
  static base::Expected<GuestMemory> create(uint64_t size);

  GuestMemory(GuestMemory&& other) noexcept;
  GuestMemory& operator=(GuestMemory&& other) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  uint64_t size() const { return size_; }
  uint64_t page_count() const { return size_ / kPageSize; }
  uint8_t* host_base() const { return base_; }

  // True if [gpa, gpa + len) lies inside guest memory (overflow-safe).
  bool contains(uint64_t gpa, uint64_t len) const { return gpa <= size_ && len <= size_ - gpa; }

  base::Status read(uint64_t gpa, std::span<uint8_t> out) const;
  base::Status write(uint64_t gpa, std::span<const uint8_t> data);
  base::Expected<std::string> read_string(uint64_t gpa, uint64_t len) const;

  template <class T>
  base::Expected<T> read_value(uint64_t gpa) const {
    T value;
    auto status = read(gpa, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    if (!status) return base::Unexpected(std::move(status).error());
    return value;
  }
  template <class T>
  base::Status write_value(uint64_t gpa, const T& value) {
    return write(gpa, std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

  // While a journal is set, every write() is also appended to it (address, bytes): how the
  // recorder learns what the host put into the guest. Not owned; nullptr to stop.
  void set_write_journal(std::vector<HostWrite>* journal) { journal_ = journal; }

  // The one log of written pages: write() marks the host's writes in it, a vCPU with dirty
  // tracking on (Vcpu::set_dirty_tracking()) the guest's. Consumers open cursors on it.
  DirtyPageLog& dirty_log() { return *dirty_log_; }

  // Per page, whether it may hold anything but zeros: the kernel has backed it (present or
  // swapped out). A page of this private anonymous mapping that was never touched reads as
  // zeros, and finding that out by reading it faults it in: ~10 us a page on a nested VM, 0.16 s
  // for 64 MiB, most of what a scan of a mostly untouched guest costs. Every page when
  // /proc/self/pagemap cannot be read.
  std::vector<bool> backed_pages() const;

 private:
  GuestMemory(uint8_t* base, uint64_t size);

  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  std::unique_ptr<DirtyPageLog> dirty_log_;  // behind a pointer: cursors and vCPUs keep its address
  std::vector<HostWrite>* journal_ = nullptr;
};

}  // namespace hlrr::vmm
