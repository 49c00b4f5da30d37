// The records a trace holds, as plain value types (copyable, comparable, no capnp). A recorder
// builds them and hands them to TraceWriter; TraceReader hands them back. trace.capnp documents
// each field's on-disk form and constraints; the comments here only add what is C++-specific.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "trace_format/registers.h"

namespace hlrr::trace {

inline constexpr uint64_t kPageSize = 4096;

struct MemoryWrite {
  uint64_t address = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const MemoryWrite&) const = default;
};

// Constraint (checked by the reader): address 4096-aligned, bytes.size() == kPageSize.
struct Page {
  uint64_t address = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const Page&) const = default;
};

// Format 1.5: a page by its checksum (trace::checksum(), XXH3-64 of the 4096 bytes) only.
struct PageDigest {
  uint64_t address = 0;
  uint64_t checksum = 0;
  bool operator==(const PageDigest&) const = default;
};

struct SandboxConfig {
  uint64_t memory_size = 0;
  uint64_t timeout_ms = 0;  // 0 = none
  std::vector<std::pair<std::string, std::string>> extra;
  bool operator==(const SandboxConfig&) const = default;
};

struct CpuidLeaf {
  uint32_t function = 0, index = 0, eax = 0, ebx = 0, ecx = 0, edx = 0;
  bool operator==(const CpuidLeaf&) const = default;
};

struct CpuModel {
  std::string vendor;
  std::vector<CpuidLeaf> cpuid;
  bool operator==(const CpuModel&) const = default;
};

inline constexpr uint8_t kPermRead = 1, kPermWrite = 2, kPermExecute = 4;

struct MemoryRegion {
  uint64_t address = 0;
  uint64_t size = 0;
  std::string name;
  uint8_t permissions = 0;  // kPermRead | kPermWrite | kPermExecute
  bool operator==(const MemoryRegion&) const = default;
};

// Format 1.4: a guest source file (`--embed-sources`).
struct SourceFile {
  std::string path;  // absolute
  std::vector<uint8_t> content;
  bool operator==(const SourceFile&) const = default;
};

// The first record of every trace.
struct Setup {
  std::vector<uint8_t> elf;
  std::string guest_name;
  SandboxConfig config;
  std::string backend;  // "unicorn" or "kvm"
  CpuModel cpu;
  std::vector<MemoryRegion> memory_layout;
  Registers initial_registers;
  std::vector<Page> initial_memory;  // non-zero pages only
  std::string hlrr_version;
  int64_t start_time_ns = 0;        // since the Unix epoch
  std::vector<SourceFile> sources;  // format 1.4; empty unless recorded with --embed-sources
  bool operator==(const Setup&) const = default;
};

// Values match trace.capnp's ExitKind.
enum class ExitKind : uint8_t {
  kPortOut,
  kPortIn,
  kHalt,
  kException,
  kOutOfBounds,
  kTimeout,
  kDebug,
  kShutdown,
  kInternalError,
};

// Names for people and tools ("port-out", "rdtsc", "guest-fault"): the one spelling that
// hltrace, replay and their messages use.
inline const char* to_string(ExitKind kind) {
  static const char* kNames[] = {"port-out",  "port-in",       "halt",
                                 "exception", "out-of-bounds", "timeout",
                                 "debug",     "shutdown",      "internal-error"};
  const auto i = static_cast<size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "?";
}

struct Fault {
  uint8_t vector = 0;
  uint64_t error_code = 0;
  uint64_t address = 0;
  std::string message;
  bool operator==(const Fault&) const = default;
};

struct Exit {
  uint64_t sequence = 0;  // 0, 1, 2, ...
  ExitKind kind = ExitKind::kHalt;
  uint16_t port = 0;
  uint8_t access_size = 0;
  uint32_t data = 0;
  uint64_t instruction_count = 0;  // 0 = unknown
  uint32_t in_value = 0;           // portIn only
  Registers registers;             // always the full file (the format may store a delta)
  std::vector<MemoryWrite> host_writes;
  std::optional<Fault> fault;
  bool operator==(const Exit&) const = default;
};

// A guest function argument or result; std::monostate (format 1.1) is no value (void).
using Value = std::variant<int64_t, std::string, std::vector<uint8_t>, std::monostate>;

struct CallStart {
  std::string function;
  std::vector<Value> args;
  // Format 1.1: the registers the call starts with and the writes that placed it (nullopt/empty
  // when the trace does not record them).
  std::optional<Registers> registers;
  std::vector<MemoryWrite> host_writes;
  bool operator==(const CallStart&) const = default;
};

struct CallEnd {
  std::variant<Value, std::string> outcome;  // index 0: the result; index 1: the error message

  static CallEnd result(Value value) {
    return CallEnd{std::variant<Value, std::string>(std::in_place_index<0>, std::move(value))};
  }
  static CallEnd error(std::string message) {
    return CallEnd{std::variant<Value, std::string>(std::in_place_index<1>, std::move(message))};
  }
  bool is_error() const { return outcome.index() == 1; }
  bool operator==(const CallEnd&) const = default;
};

enum class NondetKind : uint8_t { kRdtsc, kRdtscp, kRdrand, kRdseed };

inline const char* to_string(NondetKind kind) {
  static const char* kNames[] = {"rdtsc", "rdtscp", "rdrand", "rdseed"};
  const auto i = static_cast<size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "?";
}

struct NondetResult {
  uint64_t instruction_count = 0;
  uint64_t rip = 0;
  NondetKind kind = NondetKind::kRdtsc;
  std::vector<uint64_t> values;  // see trace.capnp for each kind's layout
  bool operator==(const NondetResult&) const = default;
};

struct MemoryDelta {
  uint64_t exit_sequence = 0;
  uint64_t instruction_count = 0;
  std::vector<Page> pages;
  std::vector<PageDigest> page_digests;  // format 1.5: pages known by their checksum only
  bool operator==(const MemoryDelta&) const = default;
};

enum class EndKind : uint8_t { kUnknown, kCompleted, kGuestFault, kTimeout };

inline const char* to_string(EndKind kind) {
  static const char* kNames[] = {"unknown", "completed", "guest-fault", "timeout"};
  const auto i = static_cast<size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "?";
}

struct End {
  EndKind kind = EndKind::kUnknown;
  std::string message;
  int64_t end_time_ns = 0;  // format 1.1; 0 = not recorded
  bool operator==(const End&) const = default;
};

// Format 1.2: memory a debugger wrote while the guest was paused at `instruction_count`.
struct DebuggerWrite {
  uint64_t instruction_count = 0;
  std::vector<MemoryWrite> writes;
  bool operator==(const DebuggerWrite&) const = default;
};

using Record =
    std::variant<Setup, Exit, CallStart, CallEnd, NondetResult, MemoryDelta, End, DebuggerWrite>;

}  // namespace hlrr::trace
