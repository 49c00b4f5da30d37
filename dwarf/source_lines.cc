#include "dwarf/source_lines.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <libelf.h>

#include <filesystem>
#include <set>

namespace hlrr::dwarf {

// libelf reads from our copy of the bytes (elf_memory keeps a pointer to them), so the copy
// lives as long as the handles.
struct SourceLines::State {
  std::vector<char> bytes;
  Elf* elf = nullptr;
  Dwarf* dwarf = nullptr;  // null: no DWARF in this ELF
  ~State() {
    if (dwarf) dwarf_end(dwarf);
    if (elf) elf_end(elf);
  }
};

namespace {

std::string comp_dir_of(Dwarf_Die* cu) {
  Dwarf_Attribute attr;
  const char* dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
  return dir ? dir : "";
}

std::string absolute(const std::string& name, const std::string& comp_dir) {
  if (name.empty() || name.front() == '/' || comp_dir.empty()) return name;
  return (std::filesystem::path(comp_dir) / name).lexically_normal().string();
}

}  // namespace

SourceLines::SourceLines(std::unique_ptr<State> state) : state_(std::move(state)) {}
SourceLines::SourceLines(SourceLines&&) noexcept = default;
SourceLines& SourceLines::operator=(SourceLines&&) noexcept = default;
SourceLines::~SourceLines() = default;

base::Expected<SourceLines> SourceLines::open(std::span<const uint8_t> elf) {
  if (elf_version(EV_CURRENT) == EV_NONE) return base::fail("libelf: version mismatch");
  auto state = std::make_unique<State>();
  state->bytes.assign(elf.begin(), elf.end());
  state->elf = elf_memory(state->bytes.data(), state->bytes.size());
  if (!state->elf || elf_kind(state->elf) != ELF_K_ELF)
    return base::fail(std::string("not an ELF: ") + elf_errmsg(-1));
  state->dwarf = dwarf_begin_elf(state->elf, DWARF_C_READ, nullptr);  // null: no DWARF
  return SourceLines(std::move(state));
}

bool SourceLines::has_debug_info() const {
  return state_->dwarf != nullptr;
}

std::optional<SourceLine> SourceLines::line_for(uint64_t address) const {
  if (!state_->dwarf) return std::nullopt;
  Dwarf_Die cu;
  if (!dwarf_addrdie(state_->dwarf, address, &cu)) return std::nullopt;
  Dwarf_Line* row = dwarf_getsrc_die(&cu, address);
  if (!row) return std::nullopt;
  int line = 0;
  const char* file = dwarf_linesrc(row, nullptr, nullptr);
  if (!file || dwarf_lineno(row, &line) != 0 || line <= 0) return std::nullopt;
  return SourceLine{file, line};
}

std::string SourceLines::describe(uint64_t address) const {
  auto line = line_for(address);
  if (!line) return "";
  return std::filesystem::path(line->file).filename().string() + ":" + std::to_string(line->line);
}

std::vector<SourceFile> SourceLines::source_files() const {
  std::vector<SourceFile> files;
  if (!state_->dwarf) return files;
  std::set<std::string> seen;
  Dwarf_Off offset = 0, next = 0;
  size_t header_size = 0;
  while (dwarf_nextcu(state_->dwarf, offset, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    const Dwarf_Off die_offset = offset + header_size;
    offset = next;
    Dwarf_Files* table = nullptr;
    size_t count = 0;
    if (!dwarf_offdie(state_->dwarf, die_offset, &cu) ||
        dwarf_getsrcfiles(&cu, &table, &count) != 0)
      continue;
    const std::string comp_dir = comp_dir_of(&cu);
    for (size_t i = 0; i < count; ++i) {
      const char* name = dwarf_filesrc(table, i, nullptr, nullptr);
      // The compiler's own pseudo-file has no source (libdw joins it with a directory).
      if (!name || std::filesystem::path(name).filename() == "<built-in>") continue;
      std::string path = absolute(name, comp_dir);
      if (seen.insert(path).second) files.push_back({std::move(path), comp_dir});
    }
  }
  return files;
}

}  // namespace hlrr::dwarf
