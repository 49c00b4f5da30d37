// BufferedCall: one guest call as the flight recorder holds it until the call is kept or
// dropped. Its trace records are kept without their payloads: the host writes of its exits and
// of its CallStart, and the pages that take guest memory back to the call's start, live in two
// byte arenas. The flight recorder reuses a BufferedCall from one call to the next (reset()
// keeps every buffer's capacity), so buffering a call allocates nothing once the buffers have
// grown to its size; the payloads are put back into records only when the call is kept.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trace_format/records.h"
#include "vmm/guest_memory.h"

namespace hlrr::recorder {

class BufferedCall {
 public:
  // Forgets the previous call (capacity stays) and starts call `number`.
  void reset(uint64_t number, std::string_view function, uint64_t start_count);

  // Appends `record` (an Exit or CallStart without host writes, or any other record) and
  // `writes`, its host writes, copied into the arena.
  void append(trace::Record record, std::span<const vmm::HostWrite> writes = {});
  // Saves `page` (guest page number) as `bytes` (one page) held at this call's start.
  void save_undo(uint64_t page, const uint8_t* bytes);
  // Drops every record and payload, keeping capacity: the call outgrew the buffer.
  void drop_records();

  // What the buffer's accounting counts for `record` with `write_bytes` of host writes in
  // `writes` pieces: the record, its payloads and their bookkeeping.
  static uint64_t bytes_for(const trace::Record& record, size_t writes, uint64_t write_bytes);
  static uint64_t undo_bytes_per_page();

  // Appends the records, host writes put back, exits renumbered from `sequence` (advanced past
  // them) and instruction counts made relative to `base`.
  void copy_records(std::vector<trace::Record>& out, uint64_t& sequence, uint64_t base) const;
  // Takes `memory` (whole guest memory, as it stood at the next call's start) back to this
  // call's start.
  void undo(std::span<uint8_t> memory) const;
  bool empty() const { return records_.empty(); }
  // The memory its buffers hold, used or not.
  uint64_t capacity_bytes() const;
  const trace::CallStart& call_start() const;  // the first record: a CallStart

  uint64_t number = 0;  // calls numbered from 1 since the recorder started
  std::string function;
  uint64_t start_count = 0;  // the vCPU's instruction count at the call's start
  uint64_t bytes = 0;        // as counted in the recorder's buffered bytes
  bool ended = false;
  bool overflowed = false;  // outgrew the buffer: records dropped, cannot be kept

 private:
  struct Write {
    uint32_t record;  // index into records_
    uint64_t address;
    uint64_t offset;  // into payload_
    uint64_t size;
  };
  std::vector<trace::Record> records_;
  std::vector<Write> writes_;     // in record order
  std::vector<uint8_t> payload_;  // the writes' bytes
  std::vector<uint64_t> undo_pages_;
  std::vector<uint8_t> undo_bytes_;  // one page per undo_pages_ entry
};

}  // namespace hlrr::recorder
