#include "trace_format/trace_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "trace_format/record_codec.h"

namespace hlrr::trace {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly `size` bytes at `offset` (the caller checked the range against size()).
  virtual base::Status read(uint64_t offset, size_t size, uint8_t* out) const = 0;
};

namespace {

class FileSource final : public ByteSource {
 public:
  FileSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~FileSource() override { ::close(fd_); }
  uint64_t size() const override { return size_; }
  base::Status read(uint64_t offset, size_t size, uint8_t* out) const override {
    while (size > 0) {
      ssize_t n = ::pread(fd_, out, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return base::fail("read error at offset " + std::to_string(offset) + ": " +
                          std::strerror(errno));
      if (n == 0)
        return base::fail("file shrank while reading at offset " + std::to_string(offset));
      out += n;
      offset += static_cast<uint64_t>(n);
      size -= static_cast<size_t>(n);
    }
    return {};
  }

 private:
  int fd_;
  uint64_t size_;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  base::Status read(uint64_t offset, size_t size, uint8_t* out) const override {
    HLRR_CHECK(offset <= bytes_.size() && size <= bytes_.size() - offset);
    if (size > 0) std::memcpy(out, bytes_.data() + offset, size);
    return {};
  }

 private:
  std::vector<uint8_t> bytes_;
};

// The largest expansion a valid zstd frame can have (an RLE block: 4 bytes -> 128 KiB); a
// declared size beyond it is a lie, refused before allocating.
constexpr uint64_t kMaxZstdRatio = 32768;

std::string chunk_name(size_t index, uint64_t offset) {
  return "chunk " + std::to_string(index) + " at offset " + std::to_string(offset);
}

}  // namespace

TraceReader::TraceReader(std::unique_ptr<ByteSource> source, ReaderOptions options)
    : source_(std::move(source)), options_(options) {}

TraceReader::~TraceReader() = default;

base::Expected<std::unique_ptr<TraceReader>> TraceReader::open(const std::string& path,
                                                               ReaderOptions options) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (reads of a regular file ignore it).
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return base::fail("cannot open trace " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return base::fail("cannot stat trace " + path + ": " + std::strerror(errno));
  }
  // The reader trusts st_size: a directory, a device or a pipe has none to trust.
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return base::fail("not a regular file");
  }
  std::unique_ptr<TraceReader> reader(new TraceReader(
      std::make_unique<FileSource>(fd, static_cast<uint64_t>(st.st_size)), options));
  if (auto status = reader->load(); !status) return base::fail(std::move(status).error().message);
  return reader;
}

base::Expected<std::unique_ptr<TraceReader>> TraceReader::open_memory(std::vector<uint8_t> bytes,
                                                                      ReaderOptions options) {
  std::unique_ptr<TraceReader> reader(
      new TraceReader(std::make_unique<MemorySource>(std::move(bytes)), options));
  if (auto status = reader->load(); !status) return base::fail(std::move(status).error().message);
  return reader;
}

uint64_t TraceReader::file_size() const {
  return source_->size();
}

uint64_t TraceReader::exit_count() const {
  uint64_t count = 0;
  for (const ChunkInfo& c : chunks_) count += c.exit_count;
  return count;
}

base::Status TraceReader::load() {
  const uint64_t size = source_->size();
  std::vector<uint8_t> head(std::min<uint64_t>(size, kFileHeaderFixedSize + kMaxWriterVersionSize));
  if (auto status = source_->read(0, head.size(), head.data()); !status) return status;
  size_t header_size = 0;
  auto header = decode_file_header(head, &header_size, options_.verify_checksums);
  if (!header) return base::fail(std::move(header).error().message);
  header_ = std::move(*header);
  header_size_ = header_size;

  if (options_.force_recovery) {
    recover("index ignored");
    return {};
  }
  if (size < header_size_ + kFooterSize) {
    recover("footer missing");
    return {};
  }
  std::array<uint8_t, kFooterSize> footer_bytes{};
  if (auto status = source_->read(size - kFooterSize, kFooterSize, footer_bytes.data()); !status)
    return status;
  auto footer = decode_footer(footer_bytes, options_.verify_checksums);
  if (!footer) {
    recover(footer.error().message.starts_with("footer missing") ? "footer missing"
                                                                 : "footer damaged");
    return {};
  }
  // A valid footer whose index does not end at it belongs to other bytes (`cat a.cap a.cap`, a
  // trace appended to): the chunks before it are still worth the scan.
  const uint64_t index_end = size - kFooterSize;
  if (footer->index_offset < header_size_ || footer->index_offset > index_end ||
      footer->index_size != index_end - footer->index_offset) {
    recover("footer does not fit the file: its index ends at " +
            std::to_string(footer->index_offset + footer->index_size) + ", the footer starts at " +
            std::to_string(index_end));
    return {};
  }
  return load_index(*footer);
}

base::Status TraceReader::load_index(const Footer& footer) {
  const uint64_t size = source_->size();
  const uint64_t index_end = size - kFooterSize;
  const std::string where = "index at offset " + std::to_string(footer.index_offset);
  HLRR_CHECK(footer.index_offset >= header_size_ && footer.index_offset <= index_end &&
             footer.index_size == index_end - footer.index_offset);
  if (footer.index_size % 8 != 0 || footer.index_size > kMaxIndexSize) {
    return base::fail(where + ": size " + std::to_string(footer.index_size) +
                      " is not a capnp message size");
  }
  std::vector<uint64_t> words(footer.index_size / 8);
  auto bytes = reinterpret_cast<uint8_t*>(words.data());
  if (auto status = source_->read(footer.index_offset, footer.index_size, bytes); !status)
    return status;
  if (options_.verify_checksums && checksum({bytes, footer.index_size}) != footer.index_checksum) {
    return base::fail(where + ": checksum mismatch");
  }
  auto chunks = decode_index(words);
  if (!chunks) return base::fail(where + ": " + chunks.error().message);
  if (chunks->size() != footer.chunk_count) {
    return base::fail(where + ": " + std::to_string(chunks->size()) +
                      " chunks, but the footer says " + std::to_string(footer.chunk_count));
  }
  uint64_t next_offset = header_size_;
  uint64_t next_exit = 0;
  for (size_t i = 0; i < chunks->size(); ++i) {
    const ChunkInfo& c = (*chunks)[i];
    const std::string entry = where + ": entry " + std::to_string(i);
    if (i == 0 ? c.offset != next_offset : c.offset < next_offset) {
      return base::fail(entry + ": chunk offset " + std::to_string(c.offset) + ", expected " +
                        (i == 0 ? "" : "at least ") + std::to_string(next_offset));
    }
    if (c.offset > footer.index_offset || footer.index_offset - c.offset < kChunkHeaderSize) {
      return base::fail(entry + ": chunk offset " + std::to_string(c.offset) +
                        " past the end of the chunks");
    }
    if (c.first_exit != next_exit) {
      return base::fail(entry + ": first exit " + std::to_string(c.first_exit) + ", expected " +
                        std::to_string(next_exit));
    }
    next_offset = c.offset + kChunkHeaderSize;
    next_exit = c.first_exit + c.exit_count;
  }
  if (next_exit != footer.exit_count) {
    return base::fail(where + ": " + std::to_string(next_exit) + " exits, but the footer says " +
                      std::to_string(footer.exit_count));
  }
  chunks_ = std::move(*chunks);
  index_offset_ = footer.index_offset;
  return {};
}

void TraceReader::recover(const std::string& why) {
  const uint64_t size = source_->size();
  uint64_t offset = header_size_;
  uint64_t next_exit = 0;
  std::string stopped;
  std::vector<uint8_t> payload;
  while (size - offset >= kChunkHeaderSize) {
    std::array<uint8_t, kChunkHeaderSize> bytes{};
    if (!source_->read(offset, bytes.size(), bytes.data())) break;
    auto header = decode_chunk_header(bytes, options_.verify_checksums);
    if (!header) break;  // the index, a torn tail, or garbage: the complete chunks end here
    if (size - offset - kChunkHeaderSize < header->compressed_size) break;  // cut mid-chunk
    if (options_.verify_checksums) {
      payload.resize(header->compressed_size);
      if (!source_->read(offset + kChunkHeaderSize, payload.size(), payload.data())) break;
      if (checksum(payload) != header->payload_checksum) {
        stopped = "; stopped at " + chunk_name(chunks_.size(), offset) + ": checksum mismatch";
        break;
      }
    }
    if (header->first_exit != next_exit) {
      stopped = "; stopped at " + chunk_name(chunks_.size(), offset) + ": first exit " +
                std::to_string(header->first_exit) + ", expected " + std::to_string(next_exit);
      break;
    }
    chunks_.push_back(ChunkInfo{offset, header->first_exit, header->first_instruction_count,
                                header->exit_count, header->record_count});
    next_exit += header->exit_count;
    offset += kChunkHeaderSize + header->compressed_size;
  }
  truncated_ = true;
  truncation_note_ = "truncated (" + why + "): " + std::to_string(chunks_.size()) +
                     " complete chunks, " + std::to_string(next_exit) + " exits recovered" +
                     stopped;
}

base::Expected<std::vector<Record>> TraceReader::read_chunk(size_t index) const {
  ChunkHeader header;
  return read_chunk(index, &header);
}

base::Expected<std::vector<Record>> TraceReader::read_chunk(size_t index,
                                                            ChunkHeader* header_out) const {
  HLRR_CHECK(index < chunks_.size());
  const ChunkInfo& info = chunks_[index];
  const std::string name = chunk_name(index, info.offset);
  const uint64_t size = source_->size();
  if (info.offset > size || size - info.offset < kChunkHeaderSize)
    return base::fail(name + ": truncated");
  std::array<uint8_t, kChunkHeaderSize> header_bytes{};
  if (auto status = source_->read(info.offset, header_bytes.size(), header_bytes.data()); !status) {
    return base::fail(name + ": " + status.error().message);
  }
  auto header = decode_chunk_header(header_bytes, options_.verify_checksums);
  if (!header) return base::fail(name + ": " + header.error().message);
  *header_out = *header;
  if (header->first_exit != info.first_exit || header->exit_count != info.exit_count ||
      header->first_instruction_count != info.first_instruction_count ||
      header->record_count != info.record_count) {
    return base::fail(name + ": header (first exit " + std::to_string(header->first_exit) + ", " +
                      std::to_string(header->exit_count) + " exits, first instruction count " +
                      std::to_string(header->first_instruction_count) +
                      ") disagrees with the index (" + std::to_string(info.first_exit) + ", " +
                      std::to_string(info.exit_count) + ", " +
                      std::to_string(info.first_instruction_count) + ")");
  }
  if (size - info.offset - kChunkHeaderSize < header->compressed_size)
    return base::fail(name + ": truncated");
  std::vector<uint8_t> payload(header->compressed_size);
  if (auto status = source_->read(info.offset + kChunkHeaderSize, payload.size(), payload.data());
      !status) {
    return base::fail(name + ": " + status.error().message);
  }
  if (options_.verify_checksums && checksum(payload) != header->payload_checksum) {
    return base::fail(name + ": checksum mismatch");
  }
  const uint64_t declared = header->uncompressed_size;
  unsigned long long frame_size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (frame_size == ZSTD_CONTENTSIZE_ERROR || frame_size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return base::fail(name + ": bad zstd frame header");
  }
  if (frame_size != declared || declared % 8 != 0 || declared > payload.size() * kMaxZstdRatio) {
    return base::fail(name + ": bad uncompressed size " + std::to_string(declared) +
                      " (zstd frame says " + std::to_string(frame_size) + ")");
  }
  if (index > 0 && declared > chunk_limit_) {
    return base::fail(name + ": " + std::to_string(declared) + " bytes of records, " +
                      chunk_limit_why_);
  }
  std::vector<uint64_t> words(declared / 8);
  size_t got = ZSTD_decompress(words.data(), declared, payload.data(), payload.size());
  if (ZSTD_isError(got)) return base::fail(name + ": bad zstd: " + ZSTD_getErrorName(got));
  if (got != declared)
    return base::fail(name + ": zstd frame holds " + std::to_string(got) + " bytes, not " +
                      std::to_string(declared));
  size_t messages = 0;
  auto records = decode_records(words, &messages);
  if (!records) return base::fail(name + ": " + records.error().message);
  if (messages != header->record_count) {
    return base::fail(name + ": holds " + std::to_string(messages) + " records, its header says " +
                      std::to_string(header->record_count));
  }
  uint64_t next_exit = header->first_exit;
  bool first = true;
  for (const Record& record : *records) {
    const Exit* exit = std::get_if<Exit>(&record);
    if (!exit) continue;
    if (exit->sequence != next_exit) {
      return base::fail(name + ": exit " + std::to_string(exit->sequence) + " where exit " +
                        std::to_string(next_exit) + " was expected");
    }
    if (first && exit->instruction_count != header->first_instruction_count) {
      return base::fail(name + ": first exit has instruction count " +
                        std::to_string(exit->instruction_count) + ", its header says " +
                        std::to_string(header->first_instruction_count));
    }
    first = false;
    ++next_exit;
  }
  if (next_exit - header->first_exit != header->exit_count) {
    return base::fail(name + ": holds " + std::to_string(next_exit - header->first_exit) +
                      " exits, its header says " + std::to_string(header->exit_count));
  }
  return records;
}

void TraceReader::limit_chunk_size(uint64_t bytes, std::string why) {
  chunk_limit_ = bytes;
  chunk_limit_why_ = std::move(why);
}

base::Expected<Setup> TraceReader::setup() const {
  if (chunks_.empty()) return base::fail("no complete chunk: the Setup record is missing");
  auto records = read_chunk(0);
  if (!records) return base::fail(std::move(records).error().message);
  if (records->empty() || !std::holds_alternative<Setup>(records->front())) {
    return base::fail(chunk_name(0, chunks_[0].offset) + ": first record is not Setup");
  }
  return std::get<Setup>(std::move(records->front()));
}

base::Expected<End> TraceReader::end() const {
  if (chunks_.empty()) return End{};
  auto records = read_chunk(chunks_.size() - 1);
  if (!records) return base::fail(std::move(records).error().message);
  if (!records->empty()) {
    if (auto* end = std::get_if<End>(&records->back())) return *end;
  }
  return End{};
}

base::Expected<size_t> TraceReader::chunk_for_exit(uint64_t sequence) const {
  // The last chunk whose first exit is <= sequence, among those holding exits.
  auto it = std::partition_point(chunks_.begin(), chunks_.end(),
                                 [&](const ChunkInfo& c) { return c.first_exit <= sequence; });
  while (it != chunks_.begin()) {
    --it;
    if (it->exit_count == 0) continue;
    if (sequence - it->first_exit < it->exit_count)
      return static_cast<size_t>(it - chunks_.begin());
    break;
  }
  return base::fail("exit " + std::to_string(sequence) + " is not in the trace (" +
                    std::to_string(exit_count()) + " exits)");
}

base::Expected<Exit> TraceReader::exit_at(uint64_t sequence) const {
  auto chunk = chunk_for_exit(sequence);
  if (!chunk) return base::fail(std::move(chunk).error().message);
  auto records = read_chunk(*chunk);
  if (!records) return base::fail(std::move(records).error().message);
  for (Record& record : *records) {
    if (auto* exit = std::get_if<Exit>(&record); exit && exit->sequence == sequence)
      return std::move(*exit);
  }
  return base::fail(chunk_name(*chunk, chunks_[*chunk].offset) + ": exit " +
                    std::to_string(sequence) + " missing");
}

base::Expected<size_t> TraceReader::chunk_for_instruction_count(uint64_t instruction_count) const {
  // Counts are non-decreasing where known (verify checks it), so the last chunk starting at or
  // before the count holds the answer; chunks with unknown counts (0) are skipped.
  size_t lo = 0, hi = chunks_.size();  // binary search over the chunks with a known count
  std::optional<size_t> found;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    size_t probe = mid;
    while (probe < hi &&
           (chunks_[probe].exit_count == 0 || chunks_[probe].first_instruction_count == 0))
      ++probe;
    if (probe == hi) {
      hi = mid;
    } else if (chunks_[probe].first_instruction_count <= instruction_count) {
      found = probe;
      lo = probe + 1;
    } else {
      hi = mid;
    }
  }
  if (!found)
    return base::fail("no exit at or before instruction count " +
                      std::to_string(instruction_count));
  return *found;
}

base::Expected<Exit> TraceReader::exit_at_instruction_count(uint64_t instruction_count) const {
  auto chunk = chunk_for_instruction_count(instruction_count);
  if (!chunk) return base::fail(std::move(chunk).error().message);
  auto records = read_chunk(*chunk);
  if (!records) return base::fail(std::move(records).error().message);
  Exit* best = nullptr;
  for (Record& record : *records) {
    auto* exit = std::get_if<Exit>(&record);
    if (!exit || exit->instruction_count == 0) continue;
    if (exit->instruction_count > instruction_count) break;
    best = exit;
  }
  if (!best)
    return base::fail("no exit at or before instruction count " +
                      std::to_string(instruction_count));
  return std::move(*best);
}

base::Status TraceReader::for_each_record(const std::function<bool(const Record&)>& visit) const {
  for (size_t i = 0; i < chunks_.size(); ++i) {
    auto records = read_chunk(i);
    if (!records) return base::fail(std::move(records).error().message);
    for (const Record& record : *records) {
      if (!visit(record)) return {};
    }
  }
  return {};
}

}  // namespace hlrr::trace
