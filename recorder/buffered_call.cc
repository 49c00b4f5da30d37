#include "recorder/buffered_call.h"

#include <cstring>

#include "base/check.h"

namespace hlrr::recorder {
namespace {

constexpr uint64_t kPage = vmm::GuestMemory::kPageSize;

uint64_t value_bytes(const trace::Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return s->size();
  if (const auto* b = std::get_if<std::vector<uint8_t>>(&v)) return b->size();
  return 0;
}

// A record's own payloads (not its host writes, which the arena holds).
uint64_t own_payload(const trace::Record& record) {
  if (const auto* e = std::get_if<trace::Exit>(&record))
    return e->fault ? e->fault->message.size() : 0;
  if (const auto* c = std::get_if<trace::CallStart>(&record)) {
    uint64_t n = c->function.size();
    for (const auto& a : c->args) n += sizeof(a) + value_bytes(a);
    return n;
  }
  if (const auto* end = std::get_if<trace::CallEnd>(&record)) {
    const auto* error = std::get_if<1>(&end->outcome);
    return error ? error->size() : value_bytes(std::get<0>(end->outcome));
  }
  if (const auto* n = std::get_if<trace::NondetResult>(&record))
    return n->values.size() * sizeof(uint64_t);
  return 0;
}

}  // namespace

uint64_t BufferedCall::bytes_for(const trace::Record& record, size_t writes, uint64_t write_bytes) {
  return sizeof(trace::Record) + own_payload(record) + writes * sizeof(Write) + write_bytes;
}

uint64_t BufferedCall::undo_bytes_per_page() {
  return sizeof(uint64_t) + kPage;
}

uint64_t BufferedCall::capacity_bytes() const {
  return records_.capacity() * sizeof(trace::Record) + writes_.capacity() * sizeof(Write) +
         payload_.capacity() + undo_pages_.capacity() * sizeof(uint64_t) + undo_bytes_.capacity();
}

void BufferedCall::reset(uint64_t call_number, std::string_view call_function,
                         uint64_t call_start_count) {
  number = call_number;
  function.assign(call_function);
  start_count = call_start_count;
  bytes = 0;
  ended = false;
  overflowed = false;
  drop_records();
  undo_pages_.clear();
  undo_bytes_.clear();
}

void BufferedCall::drop_records() {
  records_.clear();
  writes_.clear();
  payload_.clear();
}

void BufferedCall::append(trace::Record record, std::span<const vmm::HostWrite> writes) {
  for (const vmm::HostWrite& w : writes) {
    writes_.push_back(
        Write{static_cast<uint32_t>(records_.size()), w.address, payload_.size(), w.bytes.size()});
    payload_.insert(payload_.end(), w.bytes.begin(), w.bytes.end());
  }
  records_.push_back(std::move(record));
}

void BufferedCall::save_undo(uint64_t page, const uint8_t* page_bytes) {
  undo_pages_.push_back(page);
  undo_bytes_.insert(undo_bytes_.end(), page_bytes, page_bytes + kPage);
}

const trace::CallStart& BufferedCall::call_start() const {
  HLRR_CHECK(!records_.empty());
  return std::get<trace::CallStart>(records_.front());
}

void BufferedCall::copy_records(std::vector<trace::Record>& out, uint64_t& sequence,
                                uint64_t base) const {
  const auto rebase = [base](uint64_t count) { return count == 0 ? 0 : count - base; };
  size_t next_write = 0;
  for (size_t i = 0; i < records_.size(); ++i) {
    trace::Record copy = records_[i];
    std::vector<trace::MemoryWrite>* host_writes = nullptr;
    if (auto* e = std::get_if<trace::Exit>(&copy)) {
      e->sequence = sequence++;
      e->instruction_count = rebase(e->instruction_count);
      host_writes = &e->host_writes;
    } else if (auto* c = std::get_if<trace::CallStart>(&copy)) {
      host_writes = &c->host_writes;
    } else if (auto* n = std::get_if<trace::NondetResult>(&copy)) {
      n->instruction_count = rebase(n->instruction_count);
    }
    for (; next_write < writes_.size() && writes_[next_write].record == i; ++next_write) {
      const Write& w = writes_[next_write];
      HLRR_CHECK(host_writes != nullptr);
      const uint8_t* from = payload_.data() + w.offset;
      host_writes->push_back(trace::MemoryWrite{w.address, {from, from + w.size}});
    }
    out.push_back(std::move(copy));
  }
}

void BufferedCall::undo(std::span<uint8_t> memory) const {
  for (size_t i = 0; i < undo_pages_.size(); ++i) {
    HLRR_CHECK((undo_pages_[i] + 1) * kPage <= memory.size());
    std::memcpy(memory.data() + undo_pages_[i] * kPage, undo_bytes_.data() + i * kPage, kPage);
  }
}

}  // namespace hlrr::recorder
