// Internal to trace_format: Record values <-> capnp messages (trace.capnp), and the chunk index.
// The capnp types stay inside record_codec.cc; nothing here exposes them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/expected.h"
#include "trace_format/file_layout.h"
#include "trace_format/records.h"

namespace hlrr::trace {

// Encodes the records of one chunk. Stateful: exits after the first of a chunk are stored as a
// register delta against the previous exit, so call reset() at every chunk start.
class RecordEncoder {
 public:
  // Appends `record` to `out` as one capnp message in the standard stream framing. Fails (and
  // appends nothing) only for a record beyond capnp's size limits.
  base::Status encode(const Record& record, std::vector<uint8_t>& out);
  void reset() { have_previous_ = false; }

 private:
  bool have_previous_ = false;
  Registers previous_;
  // Reused first segment of each message (capnp::word-sized), so encoding an exit allocates
  // nothing.
  std::vector<uint64_t> scratch_ = std::vector<uint64_t>(kScratchWords);
  static constexpr size_t kScratchWords = 1024;
};

// Decodes every message of a decompressed chunk. Never throws: malformed input (bad framing,
// pointers out of bounds, traversal limit, a field breaking its schema constraint) is an Error
// naming the record. `message_count` receives the number of messages, including record kinds
// this reader does not know (a newer minor version's), which are skipped.
base::Expected<std::vector<Record>> decode_records(std::span<const uint64_t> words,
                                                   size_t* message_count);

std::vector<uint8_t> encode_index(const std::vector<ChunkInfo>& chunks);
base::Expected<std::vector<ChunkInfo>> decode_index(std::span<const uint64_t> words);

}  // namespace hlrr::trace
