#include "trace_format/verify.h"

namespace hlrr::trace {
namespace {

VerifyResult corrupt(std::string message) {
  return VerifyResult{VerifyStatus::kCorrupt, std::move(message), 0, 0};
}

std::string where(size_t chunk, const ChunkInfo& info) {
  return "chunk " + std::to_string(chunk) + " at offset " + std::to_string(info.offset);
}

// The position on the timeline of a record that has one (exits and nondet results), 0 if none or
// unknown. Memory deltas are tagged with the exit they were taken at instead.
uint64_t instruction_count_of(const Record& record) {
  if (auto* e = std::get_if<Exit>(&record)) return e->instruction_count;
  if (auto* n = std::get_if<NondetResult>(&record)) return n->instruction_count;
  return 0;
}

}  // namespace

VerifyResult verify(const std::string& path) {
  auto reader = TraceReader::open(path);
  if (!reader) return corrupt(reader.error().message);
  return verify(**reader);
}

VerifyResult verify(const TraceReader& reader) {
  const auto& chunks = reader.chunks();
  uint64_t next_exit = 0;
  uint64_t last_count = 0;
  bool ended = false;
  for (size_t i = 0; i < chunks.size(); ++i) {
    ChunkHeader header;
    auto records =
        reader.read_chunk(i, &header);  // checksum, zstd, capnp, header vs index vs contents
    if (!records) return corrupt(records.error().message);
    const uint64_t chunk_end = chunks[i].offset + kChunkHeaderSize + header.compressed_size;
    if (i + 1 < chunks.size() && chunks[i + 1].offset != chunk_end) {
      return corrupt("index entry " + std::to_string(i + 1) + ": chunk offset " +
                     std::to_string(chunks[i + 1].offset) + ", but " + where(i, chunks[i]) +
                     " ends at " + std::to_string(chunk_end));
    }
    if (i + 1 == chunks.size() && !reader.truncated() && chunk_end != reader.index_offset()) {
      return corrupt(where(i, chunks[i]) + ": ends at " + std::to_string(chunk_end) +
                     ", but the index starts at " + std::to_string(reader.index_offset()));
    }
    if (chunks[i].first_exit != next_exit) {
      return corrupt("index entry " + std::to_string(i) + ": first exit " +
                     std::to_string(chunks[i].first_exit) + ", expected " +
                     std::to_string(next_exit));
    }
    next_exit += chunks[i].exit_count;
    uint64_t exits_in_chunk = 0;
    for (size_t r = 0; r < records->size(); ++r) {
      const Record& record = (*records)[r];
      const std::string at = where(i, chunks[i]) + ": record " + std::to_string(r);
      if (ended) return corrupt(at + ": follows the End record");
      if ((i == 0 && r == 0) != std::holds_alternative<Setup>(record)) {
        return corrupt(at + (i == 0 && r == 0 ? ": the first record is not Setup"
                                              : ": a second Setup record"));
      }
      ended = std::holds_alternative<End>(record);
      if (auto* delta = std::get_if<MemoryDelta>(&record)) {
        uint64_t exits_so_far = next_exit - chunks[i].exit_count + exits_in_chunk;
        if (delta->exit_sequence >= exits_so_far &&
            !(exits_so_far == 0 && delta->exit_sequence == 0)) {
          return corrupt(at + ": memory delta tagged with exit " +
                         std::to_string(delta->exit_sequence) + ", which comes later");
        }
      }
      if (std::holds_alternative<Exit>(record)) ++exits_in_chunk;
      uint64_t count = instruction_count_of(record);
      if (count != 0) {
        if (count < last_count) {
          return corrupt(at + ": instruction count " + std::to_string(count) + " goes back from " +
                         std::to_string(last_count));
        }
        last_count = count;
      }
    }
  }
  if (chunks.empty() && !reader.truncated())
    return corrupt("trace has no chunks: the Setup record is missing");
  VerifyResult result;
  result.chunks = chunks.size();
  result.exits = next_exit;
  if (reader.truncated()) {
    result.status = VerifyStatus::kTruncated;
    result.message = reader.truncation_note();
  } else {
    result.message =
        "ok: " + std::to_string(chunks.size()) + " chunks, " + std::to_string(next_exit) + " exits";
  }
  return result;
}

}  // namespace hlrr::trace
