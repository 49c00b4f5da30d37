// DeltaDigest: a MemoryDelta as replay keeps it until replay reaches it.
//
// A trace may hold any number of deltas, each up to the guest's whole memory; kept whole, they
// made replay's memory grow with the trace's uncompressed size (40 copies of a 64 MiB delta in a
// 2.5 MB file: bad_alloc). A digest keeps each page's address and checksum (16 bytes a page, at
// most the guest's page count per delta) and where the full record is, which replay re-reads
// only to name the first differing byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/expected.h"
#include "trace_format/records.h"

namespace hlrr::replay {

struct DeltaDigest {
  uint64_t exit_sequence = 0;
  size_t chunk = 0;                                  // the chunk holding the full record
  size_t record = 0;                                 // its index in the chunk's records
  std::vector<std::pair<uint64_t, uint64_t>> pages;  // address, trace::checksum() of the bytes
};

// Refuses, in one line, what no recorder writes: a page outside the `memory_size` bytes of guest
// memory, or a page listed twice.
base::Expected<DeltaDigest> digest(const trace::MemoryDelta& delta, uint64_t memory_size,
                                   size_t chunk, size_t record);

// The most uncompressed bytes of records one chunk of a recording of `memory_size` bytes of
// guest memory can hold: ~64 KiB of small records plus one record that may carry up to all of
// memory (a delta of every page, with its per-page framing), with room to spare.
uint64_t max_chunk_bytes(uint64_t memory_size);

}  // namespace hlrr::replay
