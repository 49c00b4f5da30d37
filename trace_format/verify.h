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

// Opens `path` and checks: header; footer and index checksums; every chunk's checksum, zstd frame
// and capnp records; the index against each chunk's header and contents (offsets, first exit
// numbers and instruction counts, counts); exit numbers consecutive from 0 and known instruction
// counts non-decreasing across the whole trace; Setup first and End, if present, last.
VerifyResult verify(const std::string& path);
VerifyResult verify(const TraceReader& reader);

}  // namespace hlrr::trace
