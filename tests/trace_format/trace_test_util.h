// Helpers for the trace_format tests: deterministic, varied records and temporary files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "trace_format/record_codec.h"
#include "trace_format/records.h"
#include "trace_format/trace_writer.h"

namespace hlrr::trace::testing {

// A file path in a fresh temporary directory, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& name = "trace.cap") {
    std::string templ =
        (std::filesystem::temp_directory_path() / "hlrr-trace-test-XXXXXX").string();
    HLRR_CHECK(::mkdtemp(templ.data()) != nullptr);
    dir_ = templ;
    path_ = (dir_ / name).string();
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline Registers initial_registers() {
  Registers r;
  r.rip = 0x401000;
  r.rsp = 0x7ff000;
  r.rflags = 0x2;
  r.cs = 0x8;
  r.ss = r.ds = r.es = r.fs = r.gs = 0x10;
  r.cr0 = 0x80000011;
  r.cr3 = 0x1000;
  r.cr4 = 0x20;
  r.efer = 0x500;
  r.fcw = 0x37f;
  r.mxcsr = 0x1f80;
  r.ftw = 0xffff;
  return r;
}

inline Setup make_setup() {
  Setup s;
  for (int i = 0; i < 3000; ++i) s.elf.push_back(static_cast<uint8_t>(i * 7));
  s.guest_name = "echo";
  s.config = SandboxConfig{0x1000000, 5000, {{"stack", "65536"}, {"heap", "1048576"}}};
  s.backend = "unicorn";
  s.cpu.vendor = "GenuineIntel";
  s.cpu.cpuid = {{0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69}, {7, 0, 0, 0x1, 0x2, 0x3}};
  s.memory_layout = {{0x1000, 0x3000, "page tables", kPermRead | kPermWrite},
                     {0x400000, 0x10000, "text", kPermRead | kPermExecute}};
  s.initial_registers = initial_registers();
  for (uint64_t p = 0; p < 4; ++p) {
    Page page{0x400000 + p * kPageSize, std::vector<uint8_t>(kPageSize)};
    for (size_t i = 0; i < kPageSize; i += 13) page.bytes[i] = static_cast<uint8_t>(p + i);
    s.initial_memory.push_back(std::move(page));
  }
  s.hlrr_version = "0.1.0";
  s.start_time_ns = 1763800000123456789;
  return s;
}

// Generates a recording's records after Setup: exits with registers that change a little from one
// to the next (as a real guest's do), interleaved with the other record kinds.
class RecordGenerator {
 public:
  explicit RecordGenerator(uint64_t seed = 1) : rng_(seed), registers_(initial_registers()) {}

  Exit next_exit() {
    Exit e;
    e.sequence = next_sequence_++;
    icount_ += 50 + rng_() % 200;
    e.instruction_count = icount_;
    registers_.rip = 0x401000 + (rng_() % 8) * 0x20;
    registers_.rax = rng_() % 4 == 0 ? rng_() : registers_.rax + 1;
    registers_.rcx = e.sequence;
    registers_.rflags = (rng_() % 2) ? 0x246 : 0x202;
    if (rng_() % 50 == 0) registers_.xmm[rng_() % 16][3] = static_cast<uint8_t>(rng_());
    if (rng_() % 80 == 0) registers_.st[rng_() % 8][9] = static_cast<uint8_t>(rng_());
    e.registers = registers_;
    switch (rng_() % 4) {
      case 0:
        e.kind = ExitKind::kPortIn;
        e.port = 0x101;
        e.access_size = 4;
        e.in_value = static_cast<uint32_t>(rng_());
        break;
      default:
        e.kind = ExitKind::kPortOut;
        e.port = 0x100;
        e.access_size = 4;
        e.data = static_cast<uint32_t>(e.sequence * 3);
        break;
    }
    if (rng_() % 10 == 0) {
      e.host_writes.push_back(
          MemoryWrite{0x200000 + rng_() % 4096, std::vector<uint8_t>(1 + rng_() % 40, 0xab)});
    }
    if (rng_() % 500 == 0) {
      e.kind = ExitKind::kException;
      e.fault = Fault{14, 2, 0xdead000, "page fault writing 0xdead000"};
    }
    return e;
  }

  // A mix of every record kind, `exits` exits in total.
  std::vector<Record> records(uint64_t exits) {
    std::vector<Record> out;
    while (next_sequence_ < exits) {
      uint64_t roll = rng_() % 100;
      if (roll < 2) {
        CallStart call{"add", {int64_t{-5}, std::string("text"), std::vector<uint8_t>{1, 2, 3}}};
        if (roll == 1) {  // format 1.1: the call's start registers and argument writes
          call.registers = registers_;
          call.host_writes.push_back(MemoryWrite{0x10000, {0x31, 0x4d, 0x4c, 0x48}});
        }
        out.push_back(std::move(call));
      } else if (roll < 4) {
        out.push_back(roll == 2 ? CallEnd::result(int64_t{42}) : CallEnd::error("guest panicked"));
      } else if (roll < 5) {
        out.push_back(NondetResult{icount_ + 1, registers_.rip, NondetKind::kRdtscp, {rng_(), 3}});
      } else if (roll < 6) {  // format 1.2
        out.push_back(DebuggerWrite{icount_ + 1, {MemoryWrite{0x200010, {16, 0, 0, 0}}}});
      } else if (roll < 7) {
        MemoryDelta d{next_sequence_ - (next_sequence_ > 0), icount_, {}};
        d.pages.push_back(
            Page{0x200000, std::vector<uint8_t>(kPageSize, static_cast<uint8_t>(roll))});
        out.push_back(std::move(d));
      } else {
        out.push_back(next_exit());
      }
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
  Registers registers_;
  uint64_t next_sequence_ = 0;
  uint64_t icount_ = 0;
};

inline std::vector<Exit> exits_of(const std::vector<Record>& records) {
  std::vector<Exit> exits;
  for (const Record& r : records) {
    if (auto* e = std::get_if<Exit>(&r)) exits.push_back(*e);
  }
  return exits;
}

// Writes Setup + records (+ End when `end` is set) to `path` with the given options.
inline void write_trace(const std::string& path, const Setup& setup,
                        const std::vector<Record>& records, const std::optional<End>& end,
                        WriterOptions options = {}) {
  auto writer = TraceWriter::open(path, setup, options);
  ASSERT_TRUE(writer) << writer.error().message;
  for (const Record& r : records) ASSERT_TRUE((*writer)->append(r));
  if (end) {
    ASSERT_TRUE((*writer)->finish(*end));
  }
}

// `bytes` up to `index_offset`, then an index of `chunks` and a footer for it.
inline std::vector<uint8_t> with_index(std::vector<uint8_t> bytes, uint64_t index_offset,
                                       std::vector<ChunkInfo> chunks) {
  std::vector<uint8_t> index = encode_index(chunks);
  uint64_t exits = 0;
  for (const ChunkInfo& c : chunks) exits += c.exit_count;
  bytes.resize(index_offset);
  bytes.insert(bytes.end(), index.begin(), index.end());
  auto footer =
      encode_footer(Footer{index_offset, index.size(), checksum(index), chunks.size(), exits});
  bytes.insert(bytes.end(), footer.begin(), footer.end());
  return bytes;
}

}  // namespace hlrr::trace::testing
