#include "trace_format/record_codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <array>
#include <bit>
#include <cstring>
#include <string>

#include "trace_format/trace.capnp.h"

namespace hlrr::trace {
namespace {

namespace s = ::hlrr::trace::schema;

// The scalar registers in RegistersDelta bit order (trace.capnp documents it).
// clang-format off
#define HLRR_SCALAR_REGISTERS(X)                                                                \
  X(0, rax, Rax) X(1, rbx, Rbx) X(2, rcx, Rcx) X(3, rdx, Rdx) X(4, rsi, Rsi) X(5, rdi, Rdi)     \
  X(6, rbp, Rbp) X(7, rsp, Rsp) X(8, r8, R8) X(9, r9, R9) X(10, r10, R10) X(11, r11, R11)       \
  X(12, r12, R12) X(13, r13, R13) X(14, r14, R14) X(15, r15, R15) X(16, rip, Rip)               \
  X(17, rflags, Rflags) X(18, cs, Cs) X(19, ss, Ss) X(20, ds, Ds) X(21, es, Es) X(22, fs, Fs)   \
  X(23, gs, Gs) X(24, fs_base, FsBase) X(25, gs_base, GsBase) X(26, cr0, Cr0) X(27, cr2, Cr2)   \
  X(28, cr3, Cr3) X(29, cr4, Cr4) X(30, efer, Efer) X(31, fcw, Fcw) X(32, fsw, Fsw)             \
  X(33, ftw, Ftw) X(34, mxcsr, Mxcsr)
// The x87 last-instruction registers (1.3), in RegistersDelta.x87Mask bit order.
#define HLRR_X87_LAST_REGISTERS(X) X(0, fop, Fop) X(1, fip, Fip) X(2, fdp, Fdp)
// clang-format on

constexpr int kScalarCount = 35;
constexpr int kXmmFirst = 35;
constexpr int kStFirst = 51;
constexpr int kFieldCount = 59;
constexpr size_t kXmmSize = 16, kStSize = 10;

// A vector register field (xmm or st) as bytes.
std::span<const uint8_t> vector_bytes(const Registers& r, int field) {
  if (field < kStFirst) return r.xmm[field - kXmmFirst];
  return r.st[field - kStFirst];
}
std::span<uint8_t> vector_bytes(Registers& r, int field) {
  if (field < kStFirst) return r.xmm[field - kXmmFirst];
  return r.st[field - kStFirst];
}

capnp::Data::Reader data_of(std::span<const uint8_t> bytes) {
  return {bytes.data(), bytes.size()};
}
std::vector<uint8_t> bytes_of(capnp::Data::Reader data) {
  return {data.begin(), data.end()};
}
std::string string_of(capnp::Text::Reader text) {
  return {text.cStr(), text.size()};
}

void write_registers(const Registers& r, s::Registers::Builder b) {
#define X(i, m, C) b.set##C(r.m);
  HLRR_SCALAR_REGISTERS(X)
  HLRR_X87_LAST_REGISTERS(X)
#undef X
  auto xmm = b.initXmm(16);
  for (unsigned i = 0; i < 16; ++i) xmm.set(i, data_of(r.xmm[i]));
  auto st = b.initSt(8);
  for (unsigned i = 0; i < 8; ++i) st.set(i, data_of(r.st[i]));
}

base::Expected<Registers> read_registers(s::Registers::Reader b) {
  Registers r;
#define X(i, m, C) r.m = b.get##C();
  HLRR_SCALAR_REGISTERS(X)
  HLRR_X87_LAST_REGISTERS(X)
#undef X
  auto xmm = b.getXmm();
  auto st = b.getSt();
  if (xmm.size() != 16 || st.size() != 8) {
    return base::fail("registers: expected 16 xmm and 8 st entries, found " +
                      std::to_string(xmm.size()) + " and " + std::to_string(st.size()));
  }
  for (unsigned i = 0; i < 16; ++i) {
    if (xmm[i].size() != kXmmSize)
      return base::fail("registers: xmm" + std::to_string(i) + " is not 16 bytes");
    std::memcpy(r.xmm[i].data(), xmm[i].begin(), kXmmSize);
  }
  for (unsigned i = 0; i < 8; ++i) {
    if (st[i].size() != kStSize)
      return base::fail("registers: st" + std::to_string(i) + " is not 10 bytes");
    std::memcpy(r.st[i].data(), st[i].begin(), kStSize);
  }
  return r;
}

void write_x87_delta(const Registers& previous, const Registers& r, s::RegistersDelta::Builder b) {
  uint8_t mask = 0;
  std::array<uint64_t, 3> words;
  unsigned n = 0;
#define X(i, m, C)         \
  if (r.m != previous.m) { \
    mask |= 1 << i;        \
    words[n++] = r.m;      \
  }
  HLRR_X87_LAST_REGISTERS(X)
#undef X
  if (mask == 0) return;
  b.setX87Mask(mask);
  auto values = b.initX87Values(n);
  for (unsigned i = 0; i < n; ++i) values.set(i, words[i]);
}

base::Status apply_x87_delta(s::RegistersDelta::Reader b, Registers& r) {
  const uint8_t mask = b.getX87Mask();
  if (mask >> 3) return base::fail("register delta: x87 mask has bits past field 2");
  auto values = b.getX87Values();
  if (values.size() != static_cast<unsigned>(std::popcount(mask))) {
    return base::fail("register delta: " + std::to_string(values.size()) + " x87 values for " +
                      std::to_string(std::popcount(mask)) + " changed fields");
  }
  unsigned w = 0;
#define X(i, m, C) \
  if (mask & (1 << i)) r.m = static_cast<decltype(Registers::m)>(values[w++]);
  HLRR_X87_LAST_REGISTERS(X)
#undef X
  return {};
}

void write_delta(const Registers& previous, const Registers& r, s::RegistersDelta::Builder b) {
  // Hot path (every exit): the scalar comparisons are unrolled by the X-macro.
  uint64_t mask = 0;
  std::array<uint64_t, 2 * kFieldCount> words;
  unsigned n = 0;
#define X(i, m, C)            \
  if (r.m != previous.m) {    \
    mask |= uint64_t{1} << i; \
    words[n++] = r.m;         \
  }
  HLRR_SCALAR_REGISTERS(X)
#undef X
  for (int f = kXmmFirst; f < kFieldCount; ++f) {
    auto now = vector_bytes(r, f), before = vector_bytes(previous, f);
    if (std::memcmp(now.data(), before.data(), now.size()) == 0) continue;
    mask |= uint64_t{1} << f;
    uint64_t lo = 0, hi = 0;
    std::memcpy(&lo, now.data(), 8);
    std::memcpy(&hi, now.data() + 8, now.size() - 8);
    words[n++] = lo;
    words[n++] = hi;
  }
  b.setMask(mask);
  auto values = b.initValues(n);
  for (unsigned i = 0; i < n; ++i) values.set(i, words[i]);
  write_x87_delta(previous, r, b);
}

base::Expected<Registers> apply_delta(const Registers& previous, s::RegistersDelta::Reader b) {
  Registers r = previous;
  uint64_t mask = b.getMask();
  if (mask >> kFieldCount) return base::fail("register delta: mask has bits past field 58");
  auto values = b.getValues();
  unsigned expected =
      static_cast<unsigned>(std::popcount(mask & ((uint64_t{1} << kScalarCount) - 1))) +
      2 * static_cast<unsigned>(std::popcount(mask >> kScalarCount));
  if (values.size() != expected) {
    return base::fail("register delta: " + std::to_string(values.size()) + " values for " +
                      std::to_string(expected) + " changed words");
  }
  unsigned w = 0;
#define X(i, m, C) \
  if (mask & (uint64_t{1} << i)) r.m = static_cast<decltype(Registers::m)>(values[w++]);
  HLRR_SCALAR_REGISTERS(X)
#undef X
  for (int f = kXmmFirst; f < kFieldCount; ++f) {
    if (!(mask & (uint64_t{1} << f))) continue;
    auto bytes = vector_bytes(r, f);
    uint64_t lo = values[w++], hi = values[w++];
    std::memcpy(bytes.data(), &lo, 8);
    std::memcpy(bytes.data() + 8, &hi, bytes.size() - 8);
  }
  if (auto status = apply_x87_delta(b, r); !status) return base::fail(status.error().message);
  return r;
}

void write_pages(const std::vector<Page>& pages, capnp::List<s::Page>::Builder b) {
  for (unsigned i = 0; i < pages.size(); ++i) {
    b[i].setAddress(pages[i].address);
    b[i].setBytes(data_of(pages[i].bytes));
  }
}

base::Expected<std::vector<Page>> read_pages(capnp::List<s::Page>::Reader b) {
  std::vector<Page> pages;
  pages.reserve(b.size());
  for (auto p : b) {
    if (p.getAddress() % kPageSize != 0 || p.getBytes().size() != kPageSize) {
      return base::fail("page at " + std::to_string(p.getAddress()) +
                        ": not a 4096-aligned page of 4096 bytes");
    }
    pages.push_back(Page{p.getAddress(), bytes_of(p.getBytes())});
  }
  return pages;
}

void write_page_digests(const std::vector<PageDigest>& pages,
                        capnp::List<s::PageDigest>::Builder b) {
  for (unsigned i = 0; i < pages.size(); ++i) {
    b[i].setAddress(pages[i].address);
    b[i].setChecksum(pages[i].checksum);
  }
}

base::Expected<std::vector<PageDigest>> read_page_digests(capnp::List<s::PageDigest>::Reader b) {
  std::vector<PageDigest> pages;
  pages.reserve(b.size());
  for (auto p : b) {
    if (p.getAddress() % kPageSize != 0) {
      return base::fail("page checksum at " + std::to_string(p.getAddress()) +
                        ": not a 4096-aligned page");
    }
    pages.push_back(PageDigest{p.getAddress(), p.getChecksum()});
  }
  return pages;
}

void write_value(const Value& v, s::Value::Builder b) {
  if (auto* i = std::get_if<int64_t>(&v)) b.setI64(*i);
  if (auto* t = std::get_if<std::string>(&v)) b.setText(*t);
  if (auto* d = std::get_if<std::vector<uint8_t>>(&v)) b.setBytes(data_of(*d));
  if (std::holds_alternative<std::monostate>(v)) b.setNone();
}

base::Expected<Value> read_value(s::Value::Reader b) {
  switch (b.which()) {
    case s::Value::I64:
      return Value{b.getI64()};
    case s::Value::TEXT:
      return Value{string_of(b.getText())};
    case s::Value::BYTES:
      return Value{bytes_of(b.getBytes())};
    case s::Value::NONE:
      return Value{std::monostate{}};
  }
  return base::fail("value of unknown kind " + std::to_string(static_cast<int>(b.which())));
}

void write_setup(const Setup& v, s::Setup::Builder b) {
  b.setElf(data_of(v.elf));
  b.setGuestName(v.guest_name);
  auto config = b.initConfig();
  config.setMemorySize(v.config.memory_size);
  config.setTimeoutMs(v.config.timeout_ms);
  auto extra = config.initExtra(static_cast<unsigned>(v.config.extra.size()));
  for (unsigned i = 0; i < extra.size(); ++i) {
    extra[i].setKey(v.config.extra[i].first);
    extra[i].setValue(v.config.extra[i].second);
  }
  b.setBackend(v.backend);
  auto cpu = b.initCpu();
  cpu.setVendor(v.cpu.vendor);
  auto leaves = cpu.initCpuid(static_cast<unsigned>(v.cpu.cpuid.size()));
  for (unsigned i = 0; i < leaves.size(); ++i) {
    const CpuidLeaf& l = v.cpu.cpuid[i];
    leaves[i].setFunction(l.function);
    leaves[i].setIndex(l.index);
    leaves[i].setEax(l.eax);
    leaves[i].setEbx(l.ebx);
    leaves[i].setEcx(l.ecx);
    leaves[i].setEdx(l.edx);
  }
  auto regions = b.initMemoryLayout(static_cast<unsigned>(v.memory_layout.size()));
  for (unsigned i = 0; i < regions.size(); ++i) {
    const MemoryRegion& m = v.memory_layout[i];
    regions[i].setAddress(m.address);
    regions[i].setSize(m.size);
    regions[i].setName(m.name);
    regions[i].setPermissions(m.permissions);
  }
  write_registers(v.initial_registers, b.initInitialRegisters());
  write_pages(v.initial_memory,
              b.initInitialMemory(static_cast<unsigned>(v.initial_memory.size())));
  b.setHlrrVersion(v.hlrr_version);
  b.setStartTimeNs(v.start_time_ns);
  auto sources = b.initSources(static_cast<unsigned>(v.sources.size()));
  for (unsigned i = 0; i < sources.size(); ++i) {
    sources[i].setPath(v.sources[i].path);
    sources[i].setContent(data_of(v.sources[i].content));
  }
}

base::Expected<Setup> read_setup(s::Setup::Reader b) {
  Setup v;
  v.elf = bytes_of(b.getElf());
  v.guest_name = string_of(b.getGuestName());
  auto config = b.getConfig();
  v.config.memory_size = config.getMemorySize();
  v.config.timeout_ms = config.getTimeoutMs();
  for (auto kv : config.getExtra())
    v.config.extra.emplace_back(string_of(kv.getKey()), string_of(kv.getValue()));
  v.backend = string_of(b.getBackend());
  auto cpu = b.getCpu();
  v.cpu.vendor = string_of(cpu.getVendor());
  for (auto l : cpu.getCpuid()) {
    v.cpu.cpuid.push_back(
        CpuidLeaf{l.getFunction(), l.getIndex(), l.getEax(), l.getEbx(), l.getEcx(), l.getEdx()});
  }
  for (auto m : b.getMemoryLayout()) {
    v.memory_layout.push_back(
        MemoryRegion{m.getAddress(), m.getSize(), string_of(m.getName()), m.getPermissions()});
  }
  auto registers = read_registers(b.getInitialRegisters());
  if (!registers) return base::fail("setup: initial " + registers.error().message);
  v.initial_registers = *registers;
  auto pages = read_pages(b.getInitialMemory());
  if (!pages) return base::fail("setup: initial memory: " + pages.error().message);
  v.initial_memory = std::move(*pages);
  v.hlrr_version = string_of(b.getHlrrVersion());
  v.start_time_ns = b.getStartTimeNs();
  for (auto source : b.getSources())
    v.sources.push_back(SourceFile{string_of(source.getPath()), bytes_of(source.getContent())});
  return v;
}

void write_exit(const Exit& v, const Registers* previous, s::Exit::Builder b) {
  b.setSequence(v.sequence);
  b.setKind(static_cast<s::ExitKind>(v.kind));
  b.setPort(v.port);
  b.setAccessSize(v.access_size);
  b.setData(v.data);
  b.setInstructionCount(v.instruction_count);
  b.setInValue(v.in_value);
  if (previous) {
    write_delta(*previous, v.registers, b.getRegisters().initDelta());
  } else {
    write_registers(v.registers, b.getRegisters().initFull());
  }
  if (!v.host_writes.empty()) {
    auto writes = b.initHostWrites(static_cast<unsigned>(v.host_writes.size()));
    for (unsigned i = 0; i < writes.size(); ++i) {
      writes[i].setAddress(v.host_writes[i].address);
      writes[i].setBytes(data_of(v.host_writes[i].bytes));
    }
  }
  if (v.fault) {
    auto fault = b.initFault();
    fault.setVector(v.fault->vector);
    fault.setErrorCode(v.fault->error_code);
    fault.setAddress(v.fault->address);
    fault.setMessage(v.fault->message);
  }
}

base::Expected<Exit> read_exit(s::Exit::Reader b, const Registers* previous) {
  Exit v;
  v.sequence = b.getSequence();
  auto kind = static_cast<unsigned>(b.getKind());
  if (kind > static_cast<unsigned>(ExitKind::kInternalError)) {
    return base::fail("exit " + std::to_string(v.sequence) + ": unknown kind " +
                      std::to_string(kind));
  }
  v.kind = static_cast<ExitKind>(kind);
  v.port = b.getPort();
  v.access_size = b.getAccessSize();
  v.data = b.getData();
  v.instruction_count = b.getInstructionCount();
  v.in_value = b.getInValue();
  auto regs = b.getRegisters();
  base::Expected<Registers> registers = base::fail("unknown register encoding");
  if (regs.isFull()) {
    registers = read_registers(regs.getFull());
  } else if (regs.isDelta()) {
    if (!previous) {
      return base::fail("exit " + std::to_string(v.sequence) +
                        ": register delta without a previous exit in the chunk");
    }
    registers = apply_delta(*previous, regs.getDelta());
  }
  if (!registers)
    return base::fail("exit " + std::to_string(v.sequence) + ": " + registers.error().message);
  v.registers = *registers;
  for (auto w : b.getHostWrites())
    v.host_writes.push_back(MemoryWrite{w.getAddress(), bytes_of(w.getBytes())});
  if (b.hasFault()) {
    auto f = b.getFault();
    v.fault = Fault{f.getVector(), f.getErrorCode(), f.getAddress(), string_of(f.getMessage())};
  }
  return v;
}

// Fills `b` from `record`; for an exit `previous` (may be null) is the register file to delta
// against.
void write_record(const Record& record, const Registers* previous, s::Record::Builder b) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Setup>) {
          write_setup(v, b.initSetup());
        } else if constexpr (std::is_same_v<T, Exit>) {
          write_exit(v, previous, b.initExit());
        } else if constexpr (std::is_same_v<T, CallStart>) {
          auto c = b.initCallStart();
          c.setFunction(v.function);
          auto args = c.initArgs(static_cast<unsigned>(v.args.size()));
          for (unsigned i = 0; i < args.size(); ++i) write_value(v.args[i], args[i]);
          if (v.registers) write_registers(*v.registers, c.initRegisters());
          if (!v.host_writes.empty()) {
            auto writes = c.initHostWrites(static_cast<unsigned>(v.host_writes.size()));
            for (unsigned i = 0; i < writes.size(); ++i) {
              writes[i].setAddress(v.host_writes[i].address);
              writes[i].setBytes(data_of(v.host_writes[i].bytes));
            }
          }
        } else if constexpr (std::is_same_v<T, CallEnd>) {
          auto c = b.initCallEnd();
          if (v.outcome.index() == 0) {
            write_value(std::get<0>(v.outcome), c.initResult());
          } else {
            c.setError(std::get<1>(v.outcome));
          }
        } else if constexpr (std::is_same_v<T, NondetResult>) {
          auto n = b.initNondet();
          n.setInstructionCount(v.instruction_count);
          n.setRip(v.rip);
          n.setKind(static_cast<s::NondetKind>(v.kind));
          auto values = n.initValues(static_cast<unsigned>(v.values.size()));
          for (unsigned i = 0; i < values.size(); ++i) values.set(i, v.values[i]);
        } else if constexpr (std::is_same_v<T, MemoryDelta>) {
          auto m = b.initMemoryDelta();
          m.setExitSequence(v.exit_sequence);
          m.setInstructionCount(v.instruction_count);
          write_pages(v.pages, m.initPages(static_cast<unsigned>(v.pages.size())));
          if (!v.page_digests.empty()) {
            write_page_digests(v.page_digests,
                               m.initPageDigests(static_cast<unsigned>(v.page_digests.size())));
          }
        } else if constexpr (std::is_same_v<T, DebuggerWrite>) {
          auto d = b.initDebuggerWrite();
          d.setInstructionCount(v.instruction_count);
          auto writes = d.initWrites(static_cast<unsigned>(v.writes.size()));
          for (unsigned i = 0; i < writes.size(); ++i) {
            writes[i].setAddress(v.writes[i].address);
            writes[i].setBytes(data_of(v.writes[i].bytes));
          }
        } else if constexpr (std::is_same_v<T, End>) {
          auto e = b.initEnd();
          e.setKind(static_cast<s::EndKind>(v.kind));
          e.setEndTimeNs(v.end_time_ns);
          e.setMessage(v.message);
        }
      },
      record);
}

// Reads one record; returns std::nullopt-like false in `known` for a kind this reader doesn't know.
base::Expected<Record> read_record(s::Record::Reader b, const Registers* previous, bool* known) {
  *known = true;
  switch (b.which()) {
    case s::Record::SETUP: {
      auto v = read_setup(b.getSetup());
      if (!v) return base::fail(std::move(v).error().message);
      return Record{std::move(*v)};
    }
    case s::Record::EXIT: {
      auto v = read_exit(b.getExit(), previous);
      if (!v) return base::fail(std::move(v).error().message);
      return Record{std::move(*v)};
    }
    case s::Record::CALL_START: {
      CallStart v;
      v.function = string_of(b.getCallStart().getFunction());
      for (auto a : b.getCallStart().getArgs()) {
        auto value = read_value(a);
        if (!value) return base::fail("call start: " + value.error().message);
        v.args.push_back(std::move(*value));
      }
      if (b.getCallStart().hasRegisters()) {
        auto registers = read_registers(b.getCallStart().getRegisters());
        if (!registers) return base::fail("call start: " + registers.error().message);
        v.registers = *registers;
      }
      for (auto w : b.getCallStart().getHostWrites())
        v.host_writes.push_back(MemoryWrite{w.getAddress(), bytes_of(w.getBytes())});
      return Record{std::move(v)};
    }
    case s::Record::CALL_END: {
      auto c = b.getCallEnd();
      CallEnd v;
      if (c.isResult()) {
        auto value = read_value(c.getResult());
        if (!value) return base::fail("call end: " + value.error().message);
        v.outcome = std::move(*value);
      } else if (c.isError()) {
        v.outcome.emplace<1>(string_of(c.getError()));
      } else {
        return base::fail("call end: unknown outcome");
      }
      return Record{std::move(v)};
    }
    case s::Record::NONDET: {
      auto n = b.getNondet();
      auto kind = static_cast<unsigned>(n.getKind());
      if (kind > static_cast<unsigned>(NondetKind::kRdseed)) {
        return base::fail("nondet result: unknown kind " + std::to_string(kind));
      }
      NondetResult v{n.getInstructionCount(), n.getRip(), static_cast<NondetKind>(kind), {}};
      for (auto x : n.getValues()) v.values.push_back(x);
      return Record{std::move(v)};
    }
    case s::Record::MEMORY_DELTA: {
      auto m = b.getMemoryDelta();
      auto pages = read_pages(m.getPages());
      if (!pages) return base::fail("memory delta: " + pages.error().message);
      auto digests = read_page_digests(m.getPageDigests());
      if (!digests) return base::fail("memory delta: " + digests.error().message);
      return Record{MemoryDelta{m.getExitSequence(), m.getInstructionCount(), std::move(*pages),
                                std::move(*digests)}};
    }
    case s::Record::END: {
      auto e = b.getEnd();
      auto kind = static_cast<unsigned>(e.getKind());
      if (kind > static_cast<unsigned>(EndKind::kTimeout)) {
        return base::fail("end: unknown kind " + std::to_string(kind));
      }
      return Record{End{static_cast<EndKind>(kind), string_of(e.getMessage()), e.getEndTimeNs()}};
    }
    case s::Record::DEBUGGER_WRITE: {
      auto d = b.getDebuggerWrite();
      DebuggerWrite v{d.getInstructionCount(), {}};
      for (auto w : d.getWrites())
        v.writes.push_back(MemoryWrite{w.getAddress(), bytes_of(w.getBytes())});
      return Record{std::move(v)};
    }
  }
  *known = false;
  return Record{End{}};
}

// kj::OutputStream appending to a byte vector.
class VectorSink final : public kj::OutputStream {
 public:
  explicit VectorSink(std::vector<uint8_t>& out) : out_(out) {}
  void write(const void* buffer, size_t size) override {
    auto bytes = static_cast<const uint8_t*>(buffer);
    out_.insert(out_.end(), bytes, bytes + size);
  }

 private:
  std::vector<uint8_t>& out_;
};

void append_message(capnp::MessageBuilder& message, std::vector<uint8_t>& out) {
  VectorSink sink(out);
  capnp::writeMessage(sink, message);
}

capnp::ReaderOptions reader_options(size_t words) {
  capnp::ReaderOptions options;
  // Reading a field visits its words once; a generous multiple bounds amplification attacks.
  options.traversalLimitInWords = words * 8 + 1024;
  options.nestingLimit = 16;
  return options;
}

}  // namespace

base::Status RecordEncoder::encode(const Record& record, std::vector<uint8_t>& out) {
  const Exit* exit = std::get_if<Exit>(&record);
  try {
    // capnp zeroes a caller-supplied first segment again when the builder is destroyed.
    capnp::MallocMessageBuilder message(
        kj::arrayPtr(reinterpret_cast<capnp::word*>(scratch_.data()), scratch_.size()));
    write_record(record, exit && have_previous_ ? &previous_ : nullptr,
                 message.initRoot<s::Record>());
    append_message(message, out);
  } catch (const kj::Exception& e) {
    // Only a value beyond capnp's limits gets here (a blob over 512 MiB).
    return base::fail("record too large: " + std::string(e.getDescription().cStr()));
  }
  if (exit) {
    previous_ = exit->registers;
    have_previous_ = true;
  }
  return {};
}

base::Expected<std::vector<Record>> decode_records(std::span<const uint64_t> words,
                                                   size_t* message_count) {
  std::vector<Record> records;
  *message_count = 0;
  // A copy, not a pointer into `records`: the vector reallocates as it grows.
  Registers previous;
  bool have_previous = false;
  try {
    kj::ArrayPtr<const capnp::word> rest(reinterpret_cast<const capnp::word*>(words.data()),
                                         words.size());
    while (rest.size() > 0) {
      capnp::FlatArrayMessageReader reader(rest, reader_options(rest.size()));
      bool known = false;
      auto record =
          read_record(reader.getRoot<s::Record>(), have_previous ? &previous : nullptr, &known);
      if (!record)
        return base::fail("record " + std::to_string(*message_count) + ": " +
                          record.error().message);
      ++*message_count;
      if (known) {
        records.push_back(std::move(*record));
        if (auto* exit = std::get_if<Exit>(&records.back())) {
          previous = exit->registers;
          have_previous = true;
        }
      }
      rest = kj::arrayPtr(reader.getEnd(), rest.end());
    }
  } catch (const kj::Exception& e) {
    return base::fail("bad capnp in record " + std::to_string(*message_count) + ": " +
                      std::string(e.getDescription().cStr()));
  }
  return records;
}

std::vector<uint8_t> encode_index(const std::vector<ChunkInfo>& chunks) {
  capnp::MallocMessageBuilder message;
  auto list = message.initRoot<s::TraceIndex>().initChunks(static_cast<unsigned>(chunks.size()));
  for (unsigned i = 0; i < chunks.size(); ++i) {
    list[i].setOffset(chunks[i].offset);
    list[i].setFirstExit(chunks[i].first_exit);
    list[i].setFirstInstructionCount(chunks[i].first_instruction_count);
    list[i].setExitCount(chunks[i].exit_count);
    list[i].setRecordCount(chunks[i].record_count);
  }
  std::vector<uint8_t> out;
  append_message(message, out);
  return out;
}

base::Expected<std::vector<ChunkInfo>> decode_index(std::span<const uint64_t> words) {
  std::vector<ChunkInfo> chunks;
  try {
    kj::ArrayPtr<const capnp::word> all(reinterpret_cast<const capnp::word*>(words.data()),
                                        words.size());
    capnp::FlatArrayMessageReader reader(all, reader_options(words.size()));
    for (auto c : reader.getRoot<s::TraceIndex>().getChunks()) {
      chunks.push_back(ChunkInfo{c.getOffset(), c.getFirstExit(), c.getFirstInstructionCount(),
                                 c.getExitCount(), c.getRecordCount()});
    }
  } catch (const kj::Exception& e) {
    return base::fail("index: bad capnp: " + std::string(e.getDescription().cStr()));
  }
  return chunks;
}

}  // namespace hlrr::trace
