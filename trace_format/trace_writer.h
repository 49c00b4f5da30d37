// TraceWriter: writes a trace file (resource type: owns a file and a writer thread).
//
// open() writes the file header and the Setup record (alone in chunk 0) before returning. append()
// is meant for the recording (vCPU) thread: it only moves the record into a bounded queue; a
// writer thread encodes records into capnp, batches them into chunks of ~chunk_bytes, compresses
// each chunk with zstd and writes it with its length and checksum in one write(). finish() writes
// the End record, the last chunk, the index and the footer. A process killed at any point leaves a
// file whose complete chunks a reader recovers (it loses at most what was not yet flushed).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/expected.h"
#include "trace_format/file_layout.h"
#include "trace_format/records.h"

namespace hlrr::trace {

struct WriterOptions {
  size_t chunk_bytes = 64 * 1024;  // close a chunk once this many uncompressed bytes are in it
  size_t queue_capacity = 16384;   // records; append() blocks while the queue is this full
  // append() wakes the writer thread only once this many records wait (flush(), finish() and a
  // full queue always do): one futex wake-up and context switch per batch instead of per record,
  // which on a vCPU thread taking ~100k exits/s was most of the recording cost. A process killed
  // mid-call loses at most these records plus the open chunk.
  size_t wake_batch = 1024;
  int zstd_level = 2;                         // 1-3: fast enough for the writer thread to keep up
  std::string writer_version = "hlrr 0.1.0";  // stored in the file header (<= 256 bytes)
};

class TraceWriter {
 public:
  // Creates (truncates) `path`, writes the header and `setup`. Errors name the path and errno.
  static base::Expected<std::unique_ptr<TraceWriter>> open(const std::string& path,
                                                           const Setup& setup,
                                                           WriterOptions options = {});
  // Without finish(): writes what was appended as complete chunks but no footer (a reader sees
  // a truncated trace with every record), then closes the file.
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Queues `record` (not Setup or End: those go through open() and finish()). Exits must come
  // with sequence numbers 0, 1, 2, ... (HLRR_CHECKed). Blocks only while the queue is full.
  // Returns the writer thread's first error (e.g. disk full), if any, and then stays failed.
  base::Status append(Record record);
  // append() for each record of `records` (moved out; the vector is left empty, its capacity
  // kept), taking the queue's lock once: for a caller that produces records faster than one lock
  // round trip each is worth.
  base::Status append_batch(std::vector<Record>& records);

  // Blocks until every record appended before the call is in complete chunks on disk (written,
  // not fsync'ed: it survives the process being killed, not the machine losing power).
  base::Status flush();

  // Appends `end`, writes the rest, the index and the footer, fsyncs and closes the file. The
  // writer accepts nothing after it.
  base::Status finish(End end);

  uint64_t exits_appended() const { return next_exit_; }

 private:
  TraceWriter(int fd, std::string path, WriterOptions options);
  void run();
  void encode(const Record& record);
  void close_chunk();
  void set_error(std::string message);  // keeps the first error
  base::Status write_all(const uint8_t* data, size_t size);
  void stop_thread();

  int fd_;
  std::string path_;
  WriterOptions options_;
  uint64_t next_exit_ = 0;  // calling thread only

  // Shared between the calling thread and the writer thread, under mutex_.
  std::mutex mutex_;
  std::condition_variable work_ready_;   // writer thread waits: queue non-empty, flush, stop
  std::condition_variable space_ready_;  // append waits: queue below capacity
  std::condition_variable flushed_;      // flush waits: flushed_generation_ caught up
  std::vector<Record> queue_;
  bool writer_sleeping_ = false;
  size_t appenders_waiting_ = 0;
  uint64_t flush_requested_ = 0;
  uint64_t flush_done_ = 0;
  bool stop_ = false;
  base::Status error_;  // first write error, sticky

  // Writer thread only (and the constructor/finish after the thread stopped).
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  bool finished_ = false;
};

}  // namespace hlrr::trace
