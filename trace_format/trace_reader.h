// TraceReader: reads a trace file (resource type: owns the open file).
//
// open() validates the header (magic, version), then loads the chunk index through the footer. If
// the footer is missing or damaged (the recorder was killed, the file was cut), a recovery scan
// walks the chunks from the start and keeps every complete one; the reader then reports itself
// truncated(). Records are decoded chunk by chunk on demand. Errors are one line naming the chunk
// and its offset ("chunk 7 at offset 123456: checksum mismatch"). Never throws, never crashes on
// malformed input. Const methods may be called from several threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/expected.h"
#include "trace_format/file_layout.h"
#include "trace_format/records.h"

namespace hlrr::trace {

struct ReaderOptions {
  // Off only for salvaging a damaged file or for fuzzing the decoders behind the checksums.
  bool verify_checksums = true;
  // Ignore the footer and index and rebuild the chunk list by scanning (salvages a trace whose
  // index is damaged).
  bool force_recovery = false;
};

class ByteSource;  // where the bytes come from: a file or memory (trace_reader.cc)

class TraceReader {
 public:
  static base::Expected<std::unique_ptr<TraceReader>> open(const std::string& path,
                                                           ReaderOptions options = {});
  // Reads a trace held in memory (tests, fuzzing).
  static base::Expected<std::unique_ptr<TraceReader>> open_memory(std::vector<uint8_t> bytes,
                                                                  ReaderOptions options = {});
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const FileHeader& header() const { return header_; }
  // The footer was missing or damaged: chunks() comes from a recovery scan.
  bool truncated() const { return truncated_; }
  // For a truncated trace: "truncated (footer missing): 12 complete chunks, 4000 exits recovered".
  const std::string& truncation_note() const { return truncation_note_; }
  const std::vector<ChunkInfo>& chunks() const { return chunks_; }
  // Exits in the trace (in the recovered chunks if truncated).
  uint64_t exit_count() const;
  uint64_t file_size() const;
  // Where the index starts (0 for a truncated trace).
  uint64_t index_offset() const { return index_offset_; }

  // Every record of chunk `index` in order, exits with full register files.
  base::Expected<std::vector<Record>> read_chunk(size_t index) const;
  // The Setup record (the first record of chunk 0).
  base::Expected<Setup> setup() const;
  // How the recording ended: the End record, or {EndKind::kUnknown} when there is none.
  base::Expected<End> end() const;

  // Random access through the index. chunk_for_* return the chunk holding the exit.
  base::Expected<size_t> chunk_for_exit(uint64_t sequence) const;
  base::Expected<Exit> exit_at(uint64_t sequence) const;
  // The last exit whose (known, non-zero) instruction count is <= `instruction_count`.
  base::Expected<size_t> chunk_for_instruction_count(uint64_t instruction_count) const;
  base::Expected<Exit> exit_at_instruction_count(uint64_t instruction_count) const;

  // From now on, refuses before decompressing any chunk but the first (Setup's) that declares more
  // than `bytes` of records: "chunk 3 at offset 1234: 67108864 bytes of records, <why>". Replay
  // sets it from the recorded guest memory size. Call before reading from several threads.
  void limit_chunk_size(uint64_t bytes, std::string why);

  // Calls `visit` on every record in file order; stops early when it returns false.
  base::Status for_each_record(const std::function<bool(const Record&)>& visit) const;

  // read_chunk() plus the chunk's header (for verify). Checks the chunk against itself and the
  // index: checksum, zstd frame, capnp, record/exit counts, consecutive exit numbers.
  base::Expected<std::vector<Record>> read_chunk(size_t index, ChunkHeader* header) const;

 private:
  TraceReader(std::unique_ptr<ByteSource> source, ReaderOptions options);
  base::Status load();
  base::Status load_index(const Footer& footer);
  void recover(const std::string& why);

  std::unique_ptr<ByteSource> source_;
  ReaderOptions options_;
  FileHeader header_;
  uint64_t header_size_ = 0;
  std::vector<ChunkInfo> chunks_;
  bool truncated_ = false;
  std::string truncation_note_;
  uint64_t index_offset_ = 0;
  uint64_t chunk_limit_ = kMaxChunkSize;
  std::string chunk_limit_why_;
};

}  // namespace hlrr::trace
