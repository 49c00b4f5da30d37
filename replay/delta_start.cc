#include "replay/delta_start.h"

#include <algorithm>
#include <unordered_map>
#include <variant>

#include "convert/registers.h"
#include "hl_abi.h"

namespace hlrr::replay {
namespace {

// Exits after which the recording goes on: replay continues from there as it did live.
bool continues(const trace::Exit& exit) {
  return exit.kind == trace::ExitKind::kHalt ||
         (exit.kind == trace::ExitKind::kPortOut && exit.port == HL_PORT_HOST_CALL);
}

std::string_view config_value(const trace::Setup& setup, std::string_view key) {
  for (const auto& [k, v] : setup.config.extra) {
    if (k == key) return v;
  }
  return {};
}

// Replaces the pages of `set` that `pages` hold with copies of their bytes.
void put_pages(PageSet& set, const std::vector<trace::Page>& pages, uint64_t& copied) {
  std::unordered_map<uint64_t, const uint8_t*> bytes;
  std::vector<uint64_t> indices;
  for (const auto& p : pages) {
    const uint64_t index = p.address / trace::kPageSize;
    if (index >= set.size() || p.bytes.size() != trace::kPageSize) continue;  // digest() refused
    if (bytes.insert_or_assign(index, p.bytes.data()).second) indices.push_back(index);
  }
  std::sort(indices.begin(), indices.end());
  copied += indices.size() * trace::kPageSize;
  set.replace(indices, [&](uint64_t index) { return PagePool::instance().copy(bytes.at(index)); });
}

}  // namespace

DeltaStarts::DeltaStarts(ReplaySession& session) : session_(session) {
  if (session_.setup().backend == "kvm") {
    give_up("a KVM recording counts no instructions");
  }
}

void DeltaStarts::give_up(std::string why) {
  if (why_none_.empty()) why_none_ = std::move(why);
}

bool DeltaStarts::know_offset() {
  // Recorded counts start where the recorder found the vCPU: at 0 for a recording from the ELF's
  // entry, otherwise known once replay has passed an exit.
  if (!offset_) offset_ = session_.count_offset();
  if (!offset_ && config_value(session_.setup(), "state") == "loaded") offset_ = 0;
  return offset_.has_value();
}

template <typename More>
void DeltaStarts::scan_while(More more) {
  const size_t chunks = session_.reader().chunks().size();
  while (why_none_.empty() && scanned_ < chunks && more()) scan_next_chunk();
}

const DeltaPoint* DeltaStarts::at_or_before(uint64_t target) {
  if (!know_offset()) return nullptr;
  scan_while([&] { return !last_exit_ || last_exit_->instruction_count - *offset_ <= target; });
  auto it = std::upper_bound(points_.begin(), points_.end(), target,
                             [](uint64_t t, const DeltaPoint& p) { return t < p.count; });
  if (it == points_.begin()) return nullptr;
  return &*std::prev(it);
}

std::optional<uint64_t> DeltaStarts::call_start(uint64_t number) {
  if (!know_offset()) return std::nullopt;
  scan_while([&] { return calls_ <= number; });
  auto it = call_starts_.find(number);
  if (it == call_starts_.end() || !why_none_.empty()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> DeltaStarts::exit_count(uint64_t sequence) {
  if (!know_offset()) return std::nullopt;
  scan_while([&] { return exits_.size() <= sequence; });
  if (sequence >= exits_.size() || !why_none_.empty()) return std::nullopt;
  return exits_[sequence].instruction_count;
}

void DeltaStarts::scan_next_chunk() {
  chunk_first_ = cursor_;
  auto records = session_.reader().read_chunk(scanned_);
  if (!records) return give_up("reading the recording: " + records.error().message);
  for (const trace::Record& record : *records) {
    if (std::holds_alternative<trace::Setup>(record)) continue;  // not a record replay walks
    scan_record(record);
    if (!why_none_.empty()) return;
    ++cursor_;
  }
  ++scanned_;
}

void DeltaStarts::scan_record(const trace::Record& record) {
  if (const auto* exit = std::get_if<trace::Exit>(&record)) {
    if (exit->instruction_count == 0 || exit->instruction_count < *offset_) {
      return give_up("the recording's instruction counts are unknown");
    }
    last_exit_ = *exit;
    last_exit_->host_writes = {};
    const uint64_t count = exit->instruction_count - *offset_;
    exits_.push_back(ExitInfo{.sequence = exit->sequence,
                              .instruction_count = count,
                              .kind = exit->kind,
                              .port = exit->port,
                              .rip = exit->registers.rip,
                              .call = call_.value_or("")});
  } else if (const auto* start = std::get_if<trace::CallStart>(&record)) {
    // No instruction runs between the exit that ended the call before and this start.
    call_starts_[calls_++] = last_exit_ ? last_exit_->instruction_count - *offset_ : uint64_t{0};
    call_ = start->function;
  } else if (std::holds_alternative<trace::CallEnd>(record)) {
    call_.reset();
  } else if (const auto* delta = std::get_if<trace::MemoryDelta>(&record)) {
    if (!delta->page_digests.empty()) {
      return give_up(
          "the recording's memory deltas hold checksums only (record with --record-memory)");
    }
    if (!last_exit_ || last_exit_->sequence != delta->exit_sequence || !continues(*last_exit_)) {
      return;  // not after an exit replay goes on from
    }
    points_.push_back(DeltaPoint{.cursor = cursor_,
                                 .chunk = scanned_,
                                 .chunk_first = chunk_first_,
                                 .count = last_exit_->instruction_count - *offset_,
                                 .exits = last_exit_->sequence + 1,
                                 .calls_started = calls_,
                                 .call = call_,
                                 .registers = last_exit_->registers});
  }
}

base::Expected<ReplaySession::Checkpoint> DeltaStarts::rebuild(const DeltaPoint& point) {
  const trace::TraceReader& reader = session_.reader();
  ReplaySession::Checkpoint c;
  // Memory as it stands at the delta at from.cursor; the chunks are read on from from.chunk.
  Built from;
  const bool going_on = built_ && built_->cursor <= point.cursor;
  if (going_on) {
    from = *built_;
    c.pages = built_->pages;
  } else {
    auto setup = reader.setup();
    if (!setup) return base::Unexpected(std::move(setup).error());
    c.pages = PageSet(session_.memory().page_count(), ReplaySession::zero_page());
    put_pages(c.pages, setup->initial_memory, c.own_bytes);
  }
  size_t cursor = from.chunk_first;
  for (size_t chunk = from.chunk; chunk <= point.chunk; ++chunk) {
    auto records = reader.read_chunk(chunk);
    if (!records) return base::Unexpected(std::move(records).error());
    for (const trace::Record& record : *records) {
      if (std::holds_alternative<trace::Setup>(record)) continue;
      if (cursor > point.cursor) break;
      const auto* delta = std::get_if<trace::MemoryDelta>(&record);
      if (delta && (!going_on || cursor > from.cursor)) {
        put_pages(c.pages, delta->pages, c.own_bytes);
      }
      ++cursor;
    }
  }
  built_ = Built{point.cursor, point.chunk, point.chunk_first, c.pages};
  c.cursor = point.cursor;
  c.count = point.count;
  c.exits = point.exits;
  c.calls_started = point.calls_started;
  c.call = point.call;
  c.registers = convert::from_trace(point.registers);
  return c;
}

void DeltaStarts::teach(const DeltaPoint& point) const {
  std::map<uint64_t, uint64_t> starts(call_starts_.begin(),
                                      call_starts_.lower_bound(point.calls_started));
  session_.learn(std::span(exits_).first(point.exits), starts, *offset_);
}

}  // namespace hlrr::replay
