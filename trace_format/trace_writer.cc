#include "trace_format/trace_writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "trace_format/record_codec.h"

namespace hlrr::trace {

struct TraceWriter::Impl {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  RecordEncoder encoder;
  std::vector<uint8_t> chunk;       // encoded records of the open chunk
  std::vector<uint8_t> compressed;  // chunk header + zstd frame
  ChunkHeader header;               // counts of the open chunk
  uint64_t next_exit = 0;           // sequence of the next exit to be encoded
  uint64_t offset = 0;              // where the next chunk goes
  std::vector<ChunkInfo> index;
  bool failed = false;  // a record could not be encoded: nothing more is recorded

  ~Impl() { ZSTD_freeCCtx(cctx); }
};

TraceWriter::TraceWriter(int fd, std::string path, WriterOptions options)
    : fd_(fd),
      path_(std::move(path)),
      options_(std::move(options)),
      impl_(std::make_unique<Impl>()) {}

base::Expected<std::unique_ptr<TraceWriter>> TraceWriter::open(const std::string& path,
                                                               const Setup& setup,
                                                               WriterOptions options) {
  if (options.writer_version.size() > kMaxWriterVersionSize) {
    return base::fail("writer version longer than 256 bytes");
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return base::fail("cannot create trace " + path + ": " + std::strerror(errno));
  std::unique_ptr<TraceWriter> writer(new TraceWriter(fd, path, std::move(options)));
  std::vector<uint8_t> header =
      encode_file_header(FileHeader{kFormatMajor, kFormatMinor, writer->options_.writer_version});
  if (auto status = writer->write_all(header.data(), header.size()); !status)
    return base::fail(std::move(status).error().message);
  writer->impl_->offset = header.size();
  // Setup alone in chunk 0, so a reader gets it without decoding any exit.
  writer->encode(Record{setup});
  writer->close_chunk();
  if (!writer->error_) return base::fail(writer->error_.error().message);
  writer->thread_ = std::thread([w = writer.get()] {
    pthread_setname_np(pthread_self(), "hlrr-writer");  // tells it apart in perf and top
    w->run();
  });
  return writer;
}

TraceWriter::~TraceWriter() {
  if (!finished_) {
    stop_thread();
    close_chunk();
    ::close(fd_);
  }
}

base::Status TraceWriter::append(Record record) {
  HLRR_CHECK(!finished_);
  HLRR_CHECK(!std::holds_alternative<Setup>(record) && !std::holds_alternative<End>(record));
  if (const Exit* exit = std::get_if<Exit>(&record)) {
    HLRR_CHECK(exit->sequence == next_exit_);
    ++next_exit_;
  }
  std::unique_lock lock(mutex_);
  if (queue_.size() >= options_.queue_capacity) {
    ++appenders_waiting_;
    space_ready_.wait(lock, [&] { return queue_.size() < options_.queue_capacity; });
    --appenders_waiting_;
  }
  queue_.push_back(std::move(record));
  if (writer_sleeping_ && queue_.size() >= std::min(options_.wake_batch, options_.queue_capacity)) {
    work_ready_.notify_one();
  }
  return error_;
}

base::Status TraceWriter::append_batch(std::vector<Record>& records) {
  HLRR_CHECK(!finished_);
  for (const Record& record : records) {
    HLRR_CHECK(!std::holds_alternative<Setup>(record) && !std::holds_alternative<End>(record));
    if (const Exit* exit = std::get_if<Exit>(&record)) {
      HLRR_CHECK(exit->sequence == next_exit_);
      ++next_exit_;
    }
  }
  std::unique_lock lock(mutex_);
  for (Record& record : records) {
    if (queue_.size() >= options_.queue_capacity) {
      work_ready_.notify_one();
      ++appenders_waiting_;
      space_ready_.wait(lock, [&] { return queue_.size() < options_.queue_capacity; });
      --appenders_waiting_;
    }
    queue_.push_back(std::move(record));
  }
  records.clear();
  if (writer_sleeping_ && queue_.size() >= std::min(options_.wake_batch, options_.queue_capacity)) {
    work_ready_.notify_one();
  }
  return error_;
}

base::Status TraceWriter::flush() {
  HLRR_CHECK(!finished_);
  std::unique_lock lock(mutex_);
  uint64_t generation = ++flush_requested_;
  work_ready_.notify_one();
  flushed_.wait(lock, [&] { return flush_done_ >= generation; });
  return error_;
}

base::Status TraceWriter::finish(End end) {
  HLRR_CHECK(!finished_);
  stop_thread();
  finished_ = true;
  encode(Record{std::move(end)});
  close_chunk();
  Impl& impl = *impl_;
  std::vector<uint8_t> index = encode_index(impl.index);
  Footer footer{impl.offset, index.size(), checksum(index), impl.index.size(), impl.next_exit};
  auto footer_bytes = encode_footer(footer);
  index.insert(index.end(), footer_bytes.begin(), footer_bytes.end());
  base::Status status = write_all(index.data(), index.size());
  if (status && ::fsync(fd_) != 0)
    status = base::fail("cannot sync trace " + path_ + ": " + std::strerror(errno));
  if (::close(fd_) != 0 && status)
    status = base::fail("cannot close trace " + path_ + ": " + std::strerror(errno));
  if (!error_) return error_;
  return status;
}

void TraceWriter::stop_thread() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    work_ready_.notify_one();
  }
  thread_.join();
}

void TraceWriter::run() {
  std::vector<Record> batch;
  for (;;) {
    uint64_t flush_generation;
    bool stop;
    {
      std::unique_lock lock(mutex_);
      writer_sleeping_ = true;
      work_ready_.wait(lock,
                       [&] { return !queue_.empty() || flush_requested_ > flush_done_ || stop_; });
      writer_sleeping_ = false;
      batch.swap(queue_);
      flush_generation = flush_requested_;
      stop = stop_;
      if (appenders_waiting_ > 0) space_ready_.notify_all();
    }
    for (const Record& record : batch) encode(record);
    batch.clear();
    if (flush_generation > flush_done_) {
      close_chunk();
      std::lock_guard lock(mutex_);
      flush_done_ = flush_generation;
      flushed_.notify_all();
    }
    if (stop) {
      // stop_ is set under the lock after the last append, so the batch above held everything.
      return;
    }
  }
}

void TraceWriter::encode(const Record& record) {
  Impl& impl = *impl_;
  if (impl.failed) return;
  const size_t before = impl.chunk.size();
  base::Status status = impl.encoder.encode(record, impl.chunk);
  if (status && impl.chunk.size() > kMaxChunkSize)
    status = base::fail("record over the 1 GiB chunk cap");
  if (!status) {
    // Keep what came before as complete chunks, then record nothing more: a gap in the exits
    // would make the rest unusable anyway.
    impl.chunk.resize(before);
    close_chunk();
    impl.failed = true;
    set_error("cannot record into trace " + path_ + ": " + status.error().message);
    return;
  }
  if (const Exit* exit = std::get_if<Exit>(&record)) {
    if (impl.header.exit_count == 0) impl.header.first_instruction_count = exit->instruction_count;
    ++impl.header.exit_count;
    impl.next_exit = exit->sequence + 1;
  }
  ++impl.header.record_count;
  if (impl.chunk.size() >= options_.chunk_bytes) close_chunk();
}

void TraceWriter::set_error(std::string message) {
  std::lock_guard lock(mutex_);
  if (error_) error_ = base::fail(std::move(message));
}

void TraceWriter::close_chunk() {
  Impl& impl = *impl_;
  if (impl.header.record_count == 0 || impl.failed) return;
  impl.header.first_exit = impl.next_exit - impl.header.exit_count;
  impl.header.uncompressed_size = static_cast<uint32_t>(impl.chunk.size());
  size_t bound = ZSTD_compressBound(impl.chunk.size());
  impl.compressed.resize(kChunkHeaderSize + bound);
  size_t size = ZSTD_compressCCtx(impl.cctx, impl.compressed.data() + kChunkHeaderSize, bound,
                                  impl.chunk.data(), impl.chunk.size(), options_.zstd_level);
  HLRR_CHECK(!ZSTD_isError(size));
  HLRR_CHECK(size <= kMaxChunkSize && impl.chunk.size() <= kMaxChunkSize);
  impl.header.compressed_size = static_cast<uint32_t>(size);
  impl.header.payload_checksum = checksum({impl.compressed.data() + kChunkHeaderSize, size});
  auto header = encode_chunk_header(impl.header);
  std::memcpy(impl.compressed.data(), header.data(), header.size());
  // One write() for header and payload: a kill leaves either the whole chunk or a short tail.
  if (write_all(impl.compressed.data(), kChunkHeaderSize + size)) {
    impl.index.push_back(ChunkInfo{impl.offset, impl.header.first_exit,
                                   impl.header.first_instruction_count, impl.header.exit_count,
                                   impl.header.record_count});
    impl.offset += kChunkHeaderSize + size;
  }
  impl.chunk.clear();
  impl.header = ChunkHeader{};
  impl.encoder.reset();
}

base::Status TraceWriter::write_all(const uint8_t* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd_, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string message = "cannot write trace " + path_ + ": " + std::strerror(errno);
      set_error(message);
      return base::fail(std::move(message));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

}  // namespace hlrr::trace
