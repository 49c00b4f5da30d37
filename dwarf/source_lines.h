// SourceLines: what a guest ELF's DWARF says about its sources: the file and line of an address
// (for messages such as `hltrace diff --replay`'s "compute.c:42") and the source files its line
// tables name (what `--embed-sources` stores). Holds its own copy of the ELF, so it outlives the
// bytes it was built from. An ELF without DWARF is not an error: it just has no lines.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"

namespace hlrr::dwarf {

struct SourceLine {
  std::string file;  // as the line table names it: absolute, or relative to comp_dir
  int line = 0;
  bool operator==(const SourceLine&) const = default;
};

struct SourceFile {
  std::string path;      // absolute (comp_dir joined where the table's name is relative)
  std::string comp_dir;  // the compilation directory of the unit that names it
};

class SourceLines {
 public:
  // Fails only when the bytes are not an ELF libelf can read.
  static base::Expected<SourceLines> open(std::span<const uint8_t> elf);
  SourceLines(SourceLines&&) noexcept;
  SourceLines& operator=(SourceLines&&) noexcept;
  ~SourceLines();

  bool has_debug_info() const;
  // The line-table row that covers `address`, if any.
  std::optional<SourceLine> line_for(uint64_t address) const;
  // "file:line" with the file's base name, or "" when the address has no line.
  std::string describe(uint64_t address) const;
  // Every source file the line tables name (deduplicated, in first-seen order).
  std::vector<SourceFile> source_files() const;

 private:
  struct State;
  explicit SourceLines(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace hlrr::dwarf
