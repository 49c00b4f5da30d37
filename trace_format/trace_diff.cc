#include "trace_format/trace_diff.h"

#include <algorithm>
#include <cstring>

#include "base/hex.h"

namespace hlrr::trace {
namespace {

using base::hex;

// Walks one trace's records in file order, skipping memory deltas.
class RecordCursor {
 public:
  explicit RecordCursor(const TraceReader& reader) : reader_(reader) {}

  // The next compared record, nullptr at the end; an error names the chunk.
  base::Expected<const Record*> next() {
    for (;;) {
      while (pos_ < records_.size()) {
        const Record& r = records_[pos_++];
        if (!std::holds_alternative<MemoryDelta>(r)) return &r;
      }
      if (chunk_ >= reader_.chunks().size()) return static_cast<const Record*>(nullptr);
      auto records = reader_.read_chunk(chunk_++);
      if (!records) return base::fail(records.error().message);
      records_ = std::move(*records);
      pos_ = 0;
    }
  }

 private:
  const TraceReader& reader_;
  size_t chunk_ = 0;
  std::vector<Record> records_;
  size_t pos_ = 0;
};

const char* record_name(const Record* r) {
  if (!r) return "the end of the recording";
  static const char* kNames[] = {"setup",  "exit",         "call", "return",
                                 "nondet", "memory delta", "end",  "debugger write"};
  return kNames[r->index()];
}

std::string vs(const std::string& a, const std::string& b) {
  return a + " vs " + b;
}

template <class T>
std::string vs_hex(T a, T b) {
  return vs(hex(static_cast<uint64_t>(a)), hex(static_cast<uint64_t>(b)));
}

std::string writes_difference(const std::vector<MemoryWrite>& a,
                              const std::vector<MemoryWrite>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i].address != b[i].address)
      return "host write " + std::to_string(i) + " address: " + vs_hex(a[i].address, b[i].address);
    const auto& x = a[i].bytes;
    const auto& y = b[i].bytes;
    const auto m = std::mismatch(x.begin(), x.end(), y.begin(), y.end());
    if (m.first != x.end() || m.second != y.end()) {
      const size_t at = static_cast<size_t>(m.first - x.begin());
      if (m.first == x.end() || m.second == y.end())
        return "host write at " + hex(a[i].address) + ": " +
               vs(std::to_string(x.size()), std::to_string(y.size())) + " bytes";
      return "host data at " + hex(a[i].address + at) + ": " + vs_hex(*m.first, *m.second);
    }
  }
  if (a.size() != b.size())
    return "host writes: " + vs(std::to_string(a.size()), std::to_string(b.size()));
  return "";
}

std::string exit_difference(const Exit& a, const Exit& b) {
  if (a.kind != b.kind) return vs(to_string(a.kind), to_string(b.kind));
  if (a.port != b.port) return "port: " + vs_hex(a.port, b.port);
  if (a.access_size != b.access_size) return "access size: " + vs_hex(a.access_size, b.access_size);
  if (a.data != b.data) return "data: " + vs_hex(a.data, b.data);
  if (a.in_value != b.in_value) return "value read: " + vs_hex(a.in_value, b.in_value);
  if (auto r = first_register_difference(a.registers, b.registers); !r.empty()) return r;
  if (a.instruction_count != b.instruction_count)
    return "instruction count: " +
           vs(std::to_string(a.instruction_count), std::to_string(b.instruction_count));
  if (auto w = writes_difference(a.host_writes, b.host_writes); !w.empty()) return w;
  if (a.fault != b.fault)
    return "fault: " + vs(a.fault ? a.fault->message : "none", b.fault ? b.fault->message : "none");
  return "";
}

std::string call_difference(const CallStart& a, const CallStart& b) {
  if (a.function != b.function) return "function: " + vs(a.function, b.function);
  for (size_t i = 0; i < std::min(a.args.size(), b.args.size()); ++i) {
    if (a.args[i] != b.args[i])
      return "argument " + std::to_string(i + 1) + ": " +
             vs(describe_value(a.args[i]), describe_value(b.args[i]));
  }
  if (a.args.size() != b.args.size())
    return "arguments: " + vs(std::to_string(a.args.size()), std::to_string(b.args.size()));
  if (a.registers && b.registers) {
    if (auto r = first_register_difference(*a.registers, *b.registers); !r.empty()) return r;
  }
  return writes_difference(a.host_writes, b.host_writes);
}

std::string outcome_text(const CallEnd& e) {
  return e.is_error() ? "error \"" + std::get<1>(e.outcome) + "\""
                      : describe_value(std::get<0>(e.outcome));
}

std::string nondet_difference(const NondetResult& a, const NondetResult& b) {
  if (a.kind != b.kind) return vs(to_string(a.kind), to_string(b.kind));
  if (a.rip != b.rip) return std::string(to_string(a.kind)) + " rip: " + vs_hex(a.rip, b.rip);
  if (a.instruction_count != b.instruction_count)
    return std::string(to_string(a.kind)) + " instruction count: " +
           vs(std::to_string(a.instruction_count), std::to_string(b.instruction_count));
  if (a.values != b.values) {
    for (size_t i = 0; i < std::min(a.values.size(), b.values.size()); ++i)
      if (a.values[i] != b.values[i])
        return std::string(to_string(a.kind)) + " value: " + vs_hex(a.values[i], b.values[i]);
    return std::string(to_string(a.kind)) +
           " values: " + vs(std::to_string(a.values.size()), std::to_string(b.values.size()));
  }
  return "";
}

std::string setup_difference(const Setup& a, const Setup& b) {
  if (a.elf != b.elf)
    return "the guest ELFs differ (" +
           vs(std::to_string(a.elf.size()), std::to_string(b.elf.size())) +
           " bytes): diff compares recordings of the same guest";
  if (a.config.memory_size != b.config.memory_size)
    return "memory size: " +
           vs(std::to_string(a.config.memory_size), std::to_string(b.config.memory_size));
  if (a.initial_registers != b.initial_registers)
    return first_register_difference(a.initial_registers, b.initial_registers);
  if (a.initial_memory != b.initial_memory) return "initial memory differs";
  return "";
}

// The difference between two records of the same kind ("" = equal).
std::string record_difference(const Record& a, const Record& b) {
  if (auto* x = std::get_if<Setup>(&a)) return setup_difference(*x, std::get<Setup>(b));
  if (auto* x = std::get_if<Exit>(&a)) return exit_difference(*x, std::get<Exit>(b));
  if (auto* x = std::get_if<CallStart>(&a)) return call_difference(*x, std::get<CallStart>(b));
  if (auto* x = std::get_if<CallEnd>(&a)) {
    const auto& y = std::get<CallEnd>(b);
    return *x == y ? "" : "result: " + vs(outcome_text(*x), outcome_text(y));
  }
  if (auto* x = std::get_if<NondetResult>(&a))
    return nondet_difference(*x, std::get<NondetResult>(b));
  if (auto* x = std::get_if<End>(&a)) {
    const auto& y = std::get<End>(b);
    if (x->kind == y.kind && x->message == y.message) return "";  // end times always differ
    return "end: " + vs(std::string(to_string(x->kind)) + " " + x->message,
                        std::string(to_string(y.kind)) + " " + y.message);
  }
  const auto& x = std::get<DebuggerWrite>(a);
  const auto& y = std::get<DebuggerWrite>(b);
  if (x.instruction_count != y.instruction_count)
    return "debugger write at instruction " +
           vs(std::to_string(x.instruction_count), std::to_string(y.instruction_count));
  return writes_difference(x.writes, y.writes);
}

// Where the cursors are, for the difference's `where`.
struct Position {
  uint64_t call = 0;
  std::string function;
  const Exit* exit = nullptr;

  std::string describe(const Record* r) const {
    const std::string in_call =
        call == 0 ? "initialisation" : "call " + std::to_string(call) + " (" + function + ")";
    if (auto* e = r ? std::get_if<Exit>(r) : nullptr)
      return "exit " + std::to_string(e->sequence) + " (" + to_string(e->kind) + ") in " + in_call;
    if (r && std::holds_alternative<CallStart>(*r)) return in_call;
    return std::string(record_name(r)) + " of " + in_call;
  }
};

}  // namespace

std::string describe_value(const Value& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  if (auto* b = std::get_if<std::vector<uint8_t>>(&v))
    return "bytes[" + std::to_string(b->size()) + "]";
  return "void";
}

std::string first_register_difference(const Registers& a, const Registers& b) {
  struct Field {
    const char* name;
    uint64_t Registers::*member;
  };
  static const Field kFields[] = {
      {"rip", &Registers::rip},         {"rax", &Registers::rax},
      {"rbx", &Registers::rbx},         {"rcx", &Registers::rcx},
      {"rdx", &Registers::rdx},         {"rsi", &Registers::rsi},
      {"rdi", &Registers::rdi},         {"rbp", &Registers::rbp},
      {"rsp", &Registers::rsp},         {"r8", &Registers::r8},
      {"r9", &Registers::r9},           {"r10", &Registers::r10},
      {"r11", &Registers::r11},         {"r12", &Registers::r12},
      {"r13", &Registers::r13},         {"r14", &Registers::r14},
      {"r15", &Registers::r15},         {"eflags", &Registers::rflags},
      {"fs_base", &Registers::fs_base}, {"gs_base", &Registers::gs_base},
      {"cr2", &Registers::cr2},         {"fip", &Registers::fip},
      {"fdp", &Registers::fdp}};
  for (const auto& f : kFields)
    if (a.*f.member != b.*f.member)
      return std::string(f.name) + ": " + vs_hex(a.*f.member, b.*f.member);
  for (size_t i = 0; i < a.xmm.size(); ++i)
    if (a.xmm[i] != b.xmm[i]) return "xmm" + std::to_string(i) + " differs";
  for (size_t i = 0; i < a.st.size(); ++i)
    if (a.st[i] != b.st[i]) return "st" + std::to_string(i) + " differs";
  if (a.mxcsr != b.mxcsr) return "mxcsr: " + vs_hex(a.mxcsr, b.mxcsr);
  if (a.fcw != b.fcw || a.fsw != b.fsw || a.ftw != b.ftw || a.fop != b.fop)
    return "x87 control/status: " + vs_hex(a.fsw, b.fsw);
  if (a != b) return "segment or control registers differ";
  return "";
}

base::Expected<DiffSummary> diff_traces(const TraceReader& a, const TraceReader& b) {
  RecordCursor ca(a), cb(b);
  DiffSummary summary;
  Position at;
  std::optional<uint64_t> last_exit;
  uint64_t last_count = 0;
  for (;;) {
    auto ra = ca.next();
    if (!ra) return base::fail("a: " + ra.error().message);
    auto rb = cb.next();
    if (!rb) return base::fail("b: " + rb.error().message);
    const Record* x = *ra;
    const Record* y = *rb;
    if (!x && !y) return summary;
    if (auto* c = x ? std::get_if<CallStart>(x) : nullptr; c && !c->function.empty()) {
      ++at.call;  // the initialisation (no function name) is call 0, as in `monitor calls`
      at.function = c->function;
    }
    std::string what;
    if (!x || !y || x->index() != y->index()) {
      what = vs(record_name(x), record_name(y));
    } else {
      what = record_difference(*x, *y);
    }
    if (!what.empty()) {
      summary.first = TraceDifference{at.describe(x ? x : y), what, at.call, last_exit, last_count};
      return summary;
    }
    if (auto* c = std::get_if<CallStart>(x); c && !c->function.empty()) ++summary.calls;
    if (auto* e = std::get_if<Exit>(x)) {
      ++summary.exits;
      last_exit = e->sequence;
      last_count = e->instruction_count;
    }
  }
}

}  // namespace hlrr::trace
