// DeltaStarts: replay that starts near a position from the recording's memory deltas, executing
// nothing before it (docs/replay.md, "Starting from a memory delta").
//
// A recording made with `hlrun --record-memory` holds in each MemoryDelta the contents of every
// page changed since the previous one, and Setup every page at the start, so guest memory at
// delta k is Setup plus the pages of deltas 1..k, copied. The recorder writes a delta right
// after an exit's record, once the host has handled the exit (its writes applied, memory as the
// guest resumes from it). Replay's state there is the one ReplaySession has once it has replayed
// that exit and stands on the delta's record: the exit's registers (recorded after the backend
// completed the out/hlt: RIP past it; the handling changes no register), its instruction count,
// the record cursor at the delta, the exits and calls before it. Nondet results and debugger
// writes are records after the cursor: replay consumes them from there as it would anyway.
//
// A delta is a start when every delta up to it carries contents (a default recording holds
// checksums only: there is none), instruction counts are known (software vCPU; not KVM), and its
// exit does not end the recording with a fault. The recording is read chunk by chunk only as far
// as a target needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"
#include "replay/replay_session.h"
#include "trace_format/registers.h"

namespace hlrr::replay {

struct DeltaPoint {
  size_t cursor = 0;       // the MemoryDelta's record, numbered as ReplaySession numbers records
  size_t chunk = 0;        // the chunk that holds it
  size_t chunk_first = 0;  // the cursor of that chunk's first record
  uint64_t count = 0;      // replay's instruction count there
  uint64_t exits = 0;      // exits before it (its exit's sequence + 1)
  uint64_t calls_started = 0;
  std::optional<std::string> call;  // the call in progress (nullopt between calls)
  trace::Registers registers;       // its exit's
};

class DeltaStarts {
 public:
  explicit DeltaStarts(ReplaySession& session);

  // The last start at or before instruction count `target`, or nullptr (none there, or none at
  // all: why_none() says why).
  const DeltaPoint* at_or_before(uint64_t target);
  // Replay's count at the start of call `number` and right after exit `sequence`, read from
  // the recording as far as its starts reach (nullopt beyond, or without starts).
  std::optional<uint64_t> call_start(uint64_t number);
  std::optional<uint64_t> exit_count(uint64_t sequence);
  // "" while starts may exist; else why there are none ("the recording's memory deltas hold
  // checksums only (record with --record-memory)", ...).
  const std::string& why_none() const { return why_none_; }

  // The session's state at `point`, memory rebuilt from Setup and the deltas up to it. Errors: a
  // chunk that cannot be read. Going on from the memory it rebuilt last when `point` is later,
  // it reads only the chunks from there.
  base::Expected<ReplaySession::Checkpoint> rebuild(const DeltaPoint& point);
  // What replay learns on its way to `point` (the exits before it, the counts calls started at),
  // given to the session with ReplaySession::learn().
  void teach(const DeltaPoint& point) const;

 private:
  // Whether the offset of recorded counts is known (else nothing can be scanned yet).
  bool know_offset();
  // Scans chunks while `more` says the scan has not reached far enough.
  template <typename More>
  void scan_while(More more);
  void scan_next_chunk();
  void scan_record(const trace::Record& record);
  void give_up(std::string why);

  ReplaySession& session_;
  std::vector<DeltaPoint> points_;  // in order
  std::vector<ExitInfo> exits_;     // every exit scanned (index = sequence)
  std::map<uint64_t, uint64_t> call_starts_;
  std::string why_none_;
  std::optional<uint64_t> offset_;  // recorded count minus replay's
  // The scan, chunk by chunk from chunk 0.
  size_t scanned_ = 0;
  size_t cursor_ = 0;
  size_t chunk_first_ = 0;  // cursor_ at the start of the chunk being scanned
  uint64_t calls_ = 0;
  std::optional<std::string> call_;
  std::optional<trace::Exit> last_exit_;  // without its host writes
  // The memory rebuild() made last (shared with the checkpoint it returned).
  struct Built {
    size_t cursor = 0;  // of its delta
    size_t chunk = 0;
    size_t chunk_first = 0;
    PageSet pages;
  };
  std::optional<Built> built_;
};

}  // namespace hlrr::replay
