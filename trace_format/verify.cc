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
  if (auto* d = std::get_if<DebuggerWrite>(&record)) return d->instruction_count;
  return 0;
}

}  // namespace

base::Status StructureCheck::check_chunk(size_t i, const ChunkHeader& header,
                                         const std::vector<Record>& records) {
  const auto& chunks = reader_.chunks();
  HLRR_CHECK(i < chunks.size());
  const uint64_t chunk_end = chunks[i].offset + kChunkHeaderSize + header.compressed_size;
  if (i + 1 < chunks.size() && chunks[i + 1].offset != chunk_end) {
    return base::fail("index entry " + std::to_string(i + 1) + ": chunk offset " +
                      std::to_string(chunks[i + 1].offset) + ", but " + where(i, chunks[i]) +
                      " ends at " + std::to_string(chunk_end));
  }
  if (i + 1 == chunks.size() && !reader_.truncated() && chunk_end != reader_.index_offset()) {
    return base::fail(where(i, chunks[i]) + ": ends at " + std::to_string(chunk_end) +
                      ", but the index starts at " + std::to_string(reader_.index_offset()));
  }
  if (chunks[i].first_exit != next_exit_) {
    return base::fail("index entry " + std::to_string(i) + ": first exit " +
                      std::to_string(chunks[i].first_exit) + ", expected " +
                      std::to_string(next_exit_));
  }
  next_exit_ += chunks[i].exit_count;
  for (size_t r = 0; r < records.size(); ++r) {
    const std::string at = where(i, chunks[i]) + ": record " + std::to_string(r);
    if ((i == 0 && r == 0) != std::holds_alternative<Setup>(records[r])) {
      return base::fail(
          at + (i == 0 && r == 0 ? ": the first record is not Setup" : ": a second Setup record"));
    }
    if (auto st = check_record(records[r], at); !st) return st;
  }
  return {};
}

base::Status StructureCheck::check_record(const Record& record, const std::string& at) {
  if (ended_) return base::fail(at + ": follows the End record");
  ended_ = std::holds_alternative<End>(record);
  if (auto* delta = std::get_if<MemoryDelta>(&record)) {
    if (delta->exit_sequence >= exits_seen_ && !(exits_seen_ == 0 && delta->exit_sequence == 0)) {
      return base::fail(at + ": memory delta tagged with exit " +
                        std::to_string(delta->exit_sequence) + ", which comes later");
    }
  }
  if (std::holds_alternative<Exit>(record)) ++exits_seen_;
  const uint64_t count = instruction_count_of(record);
  if (count != 0) {
    if (count < last_count_) {
      return base::fail(at + ": instruction count " + std::to_string(count) + " goes back from " +
                        std::to_string(last_count_));
    }
    last_count_ = count;
  }
  return {};
}

base::Status StructureCheck::finish() const {
  if (reader_.chunks().empty() && !reader_.truncated())
    return base::fail("trace has no chunks: the Setup record is missing");
  return {};
}

VerifyResult verify(const std::string& path) {
  auto reader = TraceReader::open(path);
  if (!reader) return corrupt(reader.error().message);
  return verify(**reader);
}

VerifyResult verify(const TraceReader& reader) {
  const auto& chunks = reader.chunks();
  StructureCheck check(reader);
  for (size_t i = 0; i < chunks.size(); ++i) {
    ChunkHeader header;
    auto records =
        reader.read_chunk(i, &header);  // checksum, zstd, capnp, header vs index vs contents
    if (!records) return corrupt(records.error().message);
    if (auto st = check.check_chunk(i, header, *records); !st) return corrupt(st.error().message);
  }
  if (auto st = check.finish(); !st) return corrupt(st.error().message);
  VerifyResult result;
  result.chunks = chunks.size();
  result.exits = check.exits();
  if (reader.truncated()) {
    result.status = VerifyStatus::kTruncated;
    result.message = reader.truncation_note();
  } else {
    result.message = "ok: " + std::to_string(chunks.size()) + " chunks, " +
                     std::to_string(check.exits()) + " exits";
  }
  return result;
}

}  // namespace hlrr::trace
