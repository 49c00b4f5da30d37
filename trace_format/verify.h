// verify: a full consistency check of a trace file, for `hltrace verify` and tests.
#pragma once

#include <cstdint>
#include <string>

#include "trace_format/trace_reader.h"

namespace hlrr::trace {

enum class VerifyStatus {
  kOk,         // every check passed
  kTruncated,  // footer missing or damaged; every recovered chunk is sound
  kCorrupt,    // something is wrong: `message` says what and where
};

struct VerifyResult {
  VerifyStatus status = VerifyStatus::kOk;
  // One line: "ok: 12 chunks, 4000 exits", "truncated (footer missing): 11 complete chunks, ...",
  // or the first problem found ("chunk 7 at offset 123456: checksum mismatch").
  std::string message;
  uint64_t chunks = 0;
  uint64_t exits = 0;
};

// The structural rules of a trace, chunk by chunk in file order: each chunk against the index and
// the chunk before it (contiguous, exits continuing), and each record against those before it
// (Setup first and once, nothing after End, memory deltas tagged with an exit already seen, known
// instruction counts never decreasing). verify() and replay both use it, so a trace one accepts the
// other accepts too. Errors are one line naming the chunk (and record).
class StructureCheck {
 public:
  explicit StructureCheck(const TraceReader& reader) : reader_(reader) {}
  // `records` and `header` come from reader.read_chunk(index, &header); chunks in order from 0.
  base::Status check_chunk(size_t index, const ChunkHeader& header,
                           const std::vector<Record>& records);
  // After the last chunk: a complete trace has at least the Setup chunk.
  base::Status finish() const;
  uint64_t exits() const { return next_exit_; }

 private:
  base::Status check_record(const Record& record, const std::string& at);

  const TraceReader& reader_;
  uint64_t next_exit_ = 0;   // exits in the chunks checked so far
  uint64_t exits_seen_ = 0;  // exits among the records checked so far
  uint64_t last_count_ = 0;
  bool ended_ = false;
};

// Opens `path` and checks: header; footer and index checksums; every chunk's checksum, zstd frame
// and capnp records; the index against each chunk's header and contents (offsets, first exit
// numbers and instruction counts, counts); exit numbers consecutive from 0 and known instruction
// counts non-decreasing across the whole trace; Setup first and End, if present, last.
VerifyResult verify(const std::string& path);
VerifyResult verify(const TraceReader& reader);

}  // namespace hlrr::trace
