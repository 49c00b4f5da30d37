// hltrace: look into a trace file. Wiring only: parsing (CLI11), the trace reader, printing.
//   hltrace info trace.cap      what the recording is (guest, backend, counts, size)
//   hltrace dump trace.cap      one line per record (exits, calls, nondet results, deltas)
//   hltrace verify trace.cap    exit 0 (ok), 3 (truncated) or 1 (corrupt) with one line
//   hltrace diff a.cap b.cap    the first difference (--replay: the first parting instruction)
#include <CLI/CLI.hpp>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "base/hex.h"
#include "base/printable.h"
#include "cli/trace_diff_command.h"
#include "trace_format/trace_reader.h"
#include "trace_format/verify.h"

namespace {

using namespace hlrr::trace;

constexpr int kExitCorrupt = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTruncated = 3;

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "hltrace: %s\n", message.c_str());
  return code;
}

using hlrr::base::hex;

std::string hex_bytes(const std::vector<uint8_t>& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) s += {kDigits[b >> 4], kDigits[b & 15]};
  return s;
}

std::string json_string(const std::string& text) {
  std::string s = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      s += '\\';
      s += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      s += buf;
    } else {
      s += static_cast<char>(c);
    }
  }
  return s + "\"";
}

std::string value_text(const Value& v, bool json) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* s = std::get_if<std::string>(&v)) return json_string(*s);
  if (auto* b = std::get_if<std::vector<uint8_t>>(&v)) {
    return json ? json_string(hex_bytes(*b))
                : "bytes[" + std::to_string(b->size()) + "] " + hex_bytes(*b);
  }
  return json ? "null" : "void";
}

std::string writes_text(const std::vector<MemoryWrite>& writes, bool json) {
  std::string s = json ? "[" : "";
  for (size_t i = 0; i < writes.size(); ++i) {
    const auto& w = writes[i];
    if (json) {
      s += (i ? "," : "") + std::string("{\"address\":") + std::to_string(w.address) +
           ",\"bytes\":\"" + hex_bytes(w.bytes) + "\"}";
    } else {
      s += (i ? " " : "") + hex(w.address) + "+" + std::to_string(w.bytes.size());
    }
  }
  return json ? s + "]" : s;
}

std::string exit_line(const Exit& e, bool json) {
  const Registers& r = e.registers;
  if (json) {
    std::string s =
        "{\"type\":\"exit\",\"sequence\":" + std::to_string(e.sequence) + ",\"kind\":\"" +
        to_string(e.kind) + "\",\"port\":" + std::to_string(e.port) +
        ",\"size\":" + std::to_string(e.access_size) + ",\"data\":" + std::to_string(e.data) +
        ",\"in_value\":" + std::to_string(e.in_value) +
        ",\"instruction_count\":" + std::to_string(e.instruction_count) +
        ",\"rip\":" + std::to_string(r.rip) + ",\"rsp\":" + std::to_string(r.rsp) +
        ",\"rax\":" + std::to_string(r.rax) + ",\"rflags\":" + std::to_string(r.rflags) +
        ",\"host_writes\":" + writes_text(e.host_writes, true);
    if (e.fault) {
      s += ",\"fault\":{\"vector\":" + std::to_string(e.fault->vector) +
           ",\"error_code\":" + std::to_string(e.fault->error_code) +
           ",\"address\":" + std::to_string(e.fault->address) +
           ",\"message\":" + json_string(e.fault->message) + "}";
    }
    return s + "}";
  }
  std::string s = "exit " + std::to_string(e.sequence) + " " + to_string(e.kind);
  if (e.kind == ExitKind::kPortOut || e.kind == ExitKind::kPortIn) {
    s += " port=" + hex(e.port) + " size=" + std::to_string(e.access_size);
    s += e.kind == ExitKind::kPortOut ? " data=" + hex(e.data) : " in=" + hex(e.in_value);
  }
  s += " rip=" + hex(r.rip) + " rsp=" + hex(r.rsp) + " rax=" + hex(r.rax);
  if (e.instruction_count) s += " icount=" + std::to_string(e.instruction_count);
  s += " writes=" + std::to_string(e.host_writes.size());
  if (!e.host_writes.empty()) s += " (" + writes_text(e.host_writes, false) + ")";
  if (e.fault) {
    s += " fault: vector=" + std::to_string(e.fault->vector) + " address=" + hex(e.fault->address) +
         " " + e.fault->message;
  }
  return s;
}

std::string record_line(const Record& record, bool json) {
  if (auto* e = std::get_if<Exit>(&record)) return exit_line(*e, json);
  if (auto* c = std::get_if<CallStart>(&record)) {
    std::string args;
    for (size_t i = 0; i < c->args.size(); ++i)
      args += (i ? json ? "," : ", " : "") + value_text(c->args[i], json);
    if (json) {
      return "{\"type\":\"call\",\"function\":" + json_string(c->function) + ",\"args\":[" + args +
             "],\"rip\":" + std::to_string(c->registers ? c->registers->rip : 0) +
             ",\"host_writes\":" + writes_text(c->host_writes, true) + "}";
    }
    return "call " + (c->function.empty() ? std::string("(initialisation)") : c->function) + "(" +
           args + ")" + (c->registers ? " rip=" + hex(c->registers->rip) : "") +
           " writes=" + std::to_string(c->host_writes.size());
  }
  if (auto* c = std::get_if<CallEnd>(&record)) {
    if (c->is_error()) {
      const auto& message = std::get<1>(c->outcome);
      return json ? "{\"type\":\"return\",\"error\":" + json_string(message) + "}"
                  : "error " + message;
    }
    const std::string v = value_text(std::get<0>(c->outcome), json);
    return json ? "{\"type\":\"return\",\"value\":" + v + "}" : "return " + v;
  }
  if (auto* n = std::get_if<NondetResult>(&record)) {
    std::string values;
    for (size_t i = 0; i < n->values.size(); ++i) {
      values +=
          (i ? json ? "," : " " : "") + (json ? std::to_string(n->values[i]) : hex(n->values[i]));
    }
    if (json) {
      return "{\"type\":\"nondet\",\"kind\":\"" + std::string(to_string(n->kind)) +
             "\",\"rip\":" + std::to_string(n->rip) +
             ",\"instruction_count\":" + std::to_string(n->instruction_count) + ",\"values\":[" +
             values + "]}";
    }
    return std::string("nondet ") + to_string(n->kind) + " rip=" + hex(n->rip) +
           (n->instruction_count ? " icount=" + std::to_string(n->instruction_count) : "") +
           " values=" + values;
  }
  if (auto* d = std::get_if<MemoryDelta>(&record)) {
    if (json) {
      return "{\"type\":\"memory_delta\",\"exit\":" + std::to_string(d->exit_sequence) +
             ",\"pages\":" + std::to_string(d->pages.size()) +
             ",\"page_checksums\":" + std::to_string(d->page_digests.size()) + "}";
    }
    return "memory-delta after exit " + std::to_string(d->exit_sequence) + ": " +
           std::to_string(d->pages.size()) + " pages" +
           (d->page_digests.empty()
                ? ""
                : ", " + std::to_string(d->page_digests.size()) + " page checksums");
  }
  if (auto* w = std::get_if<DebuggerWrite>(&record)) {
    if (json) {
      return "{\"type\":\"debugger_write\",\"instruction_count\":" +
             std::to_string(w->instruction_count) + ",\"writes\":" + writes_text(w->writes, true) +
             "}";
    }
    return "debugger-write icount=" + std::to_string(w->instruction_count) + " (" +
           writes_text(w->writes, false) + ")";
  }
  if (auto* e = std::get_if<End>(&record)) {
    if (json) {
      return "{\"type\":\"end\",\"kind\":\"" + std::string(to_string(e->kind)) +
             "\",\"message\":" + json_string(e->message) + "}";
    }
    return std::string("end ") + to_string(e->kind) + (e->message.empty() ? "" : ": " + e->message);
  }
  const auto& s = std::get<Setup>(record);
  if (json) {
    return "{\"type\":\"setup\",\"guest\":" + json_string(s.guest_name) +
           ",\"backend\":" + json_string(s.backend) +
           ",\"rip\":" + std::to_string(s.initial_registers.rip) +
           ",\"pages\":" + std::to_string(s.initial_memory.size()) + "}";
  }
  return "setup " + s.guest_name + " on " + s.backend + " rip=" + hex(s.initial_registers.rip) +
         " " + std::to_string(s.initial_memory.size()) + " pages";
}

std::unique_ptr<TraceReader> open_or_report(const std::string& path, int* code) {
  auto reader = TraceReader::open(path);
  if (!reader) {
    *code = fail(kExitCorrupt, path + ": " + reader.error().message);
    return nullptr;
  }
  if ((*reader)->truncated())
    std::fprintf(stderr, "hltrace: %s: %s\n", path.c_str(), (*reader)->truncation_note().c_str());
  return std::move(*reader);
}

int info(const std::string& path) {
  int code = 0;
  auto reader = open_or_report(path, &code);
  if (!reader) return code;
  auto setup = reader->setup();
  if (!setup) return fail(kExitCorrupt, path + ": " + setup.error().message);
  uint64_t calls = 0, exits = 0, nondet = 0, deltas = 0, delta_pages = 0, delta_digests = 0;
  uint64_t instructions = 0;
  uint64_t compressed = 0, uncompressed = 0;
  End end;
  for (size_t i = 0; i < reader->chunks().size(); ++i) {
    ChunkHeader header;
    auto records = reader->read_chunk(i, &header);
    if (!records) return fail(kExitCorrupt, path + ": " + records.error().message);
    compressed += header.compressed_size;
    uncompressed += header.uncompressed_size;
    for (const auto& r : *records) {
      if (std::holds_alternative<CallStart>(r)) ++calls;
      if (auto* e = std::get_if<Exit>(&r)) {
        ++exits;
        if (e->instruction_count) instructions = e->instruction_count;
      }
      if (std::holds_alternative<NondetResult>(r)) ++nondet;
      if (auto* d = std::get_if<MemoryDelta>(&r)) {
        ++deltas, delta_pages += d->pages.size(), delta_digests += d->page_digests.size();
      }
      if (auto* e = std::get_if<End>(&r)) end = *e;
    }
  }
  const auto& h = reader->header();
  std::printf("format:        %u.%u (%s)\n", h.major, h.minor, h.writer_version.c_str());
  std::printf("guest:         %s (%zu bytes of ELF)\n", setup->guest_name.c_str(),
              setup->elf.size());
  std::printf("backend:       %s\n", setup->backend.c_str());
  std::printf("cpu model:     %s, %zu cpuid leaves\n", setup->cpu.vendor.c_str(),
              setup->cpu.cpuid.size());
  std::printf("memory:        %" PRIu64 " bytes, %zu regions, %zu non-zero pages at start\n",
              setup->config.memory_size, setup->memory_layout.size(), setup->initial_memory.size());
  std::printf("calls:         %" PRIu64 "\n", calls);
  std::printf("exits:         %" PRIu64 "\n", exits);
  if (instructions) {
    std::printf("instructions:  %" PRIu64 "\n", instructions);
  } else {
    std::printf("instructions:  unknown (%s does not count)\n", setup->backend.c_str());
  }
  std::printf("nondet:        %" PRIu64 "\n", nondet);
  std::printf("memory deltas: %" PRIu64 " (%" PRIu64 " pages, %" PRIu64 " page checksums)\n",
              deltas, delta_pages, delta_digests);
  if (end.end_time_ns && setup->start_time_ns) {
    std::printf("duration:      %.3f s\n",
                static_cast<double>(end.end_time_ns - setup->start_time_ns) / 1e9);
  } else {
    std::printf("duration:      unknown\n");
  }
  std::printf("size:          %" PRIu64 " bytes\n", reader->file_size());
  std::printf(
      "compression:   %.2fx (%" PRIu64 " -> %" PRIu64 " bytes)\n",
      compressed ? static_cast<double>(uncompressed) / static_cast<double>(compressed) : 0.0,
      uncompressed, compressed);
  std::printf("chunks:        %zu\n", reader->chunks().size());
  uint64_t source_bytes = 0;
  for (const auto& f : setup->sources) source_bytes += f.content.size();
  std::printf("sources:       %zu files embedded (%" PRIu64 " bytes)\n", setup->sources.size(),
              source_bytes);
  for (const auto& f : setup->sources)
    std::printf("  %s (%zu bytes)\n", hlrr::base::printable(f.path).c_str(), f.content.size());
  if (reader->truncated()) {
    std::printf("end:           none: %s\n", reader->truncation_note().c_str());
  } else {
    std::printf("end:           %s%s\n", to_string(end.kind),
                end.message.empty() ? "" : (": " + end.message).c_str());
  }
  return 0;
}

int dump(const std::string& path, bool json) {
  int code = 0;
  auto reader = open_or_report(path, &code);
  if (!reader) return code;
  auto st = reader->for_each_record([&](const Record& r) {
    std::printf("%s\n", record_line(r, json).c_str());
    return true;
  });
  std::fflush(stdout);
  if (!st) return fail(kExitCorrupt, path + ": " + st.error().message);
  return reader->truncated() ? kExitTruncated : 0;
}

int verify_trace(const std::string& path) {
  const VerifyResult result = verify(path);
  switch (result.status) {
    case VerifyStatus::kOk:
      std::printf("%s\n", result.message.c_str());
      return 0;
    case VerifyStatus::kTruncated:
      std::printf("%s\n", result.message.c_str());
      return kExitTruncated;
    case VerifyStatus::kCorrupt:
      break;
  }
  std::printf("corrupt: %s\n", result.message.c_str());
  return kExitCorrupt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "hltrace: inspect an hlrr trace file.\n"
      "Exit codes: 0 ok, 1 corrupt or unreadable, 2 usage, 3 truncated (no footer: the\n"
      "recorder was killed; every complete chunk is still read). diff: 0 same, 1 different,\n"
      "2 trouble, as diff(1).",
      "hltrace"};
  app.require_subcommand(1);
  std::string path;
  bool json = false;
  auto* info_cmd = app.add_subcommand("info", "what the trace holds: guest, backend, counts, size");
  info_cmd->add_option("trace", path, "trace file")->required();
  auto* dump_cmd = app.add_subcommand(
      "dump", "one line per record (exits, calls, nondet results, memory deltas)");
  dump_cmd->add_option("trace", path, "trace file")->required();
  dump_cmd->add_flag("--json", json, "one JSON object per line");
  auto* verify_cmd =
      app.add_subcommand("verify", "check every checksum, count and order; one line");
  verify_cmd->add_option("trace", path, "trace file")->required();
  std::string other;
  bool replay = false;
  auto* diff_cmd = app.add_subcommand(
      "diff",
      "the first difference between two recordings of the same guest: calls, arguments, exits,\n"
      "host data. Exit status 0 same, 1 different, 2 trouble (as diff(1))");
  diff_cmd->add_option("a", path, "first trace file")->required();
  diff_cmd->add_option("b", other, "second trace file")->required();
  diff_cmd->add_flag("--replay", replay,
                     "also replay both in lock step: the first instruction after which their\n"
                     "registers differ (instruction count, rip, symbol, source line, register)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (info_cmd->parsed()) return info(path);
  if (dump_cmd->parsed()) return dump(path, json);
  if (diff_cmd->parsed()) return hlrr::cli::trace_diff_command(path, other, replay);
  return verify_trace(path);
}
