#include "vmm/elf_note.h"

#include <elf.h>

#include <cstring>
#include <string_view>

#include "hl_abi.h"

namespace hlrr::vmm {
namespace {

template <class T>
bool read_at(std::span<const uint8_t> bytes, uint64_t offset, T& out) {
  if (offset > bytes.size() || sizeof(T) > bytes.size() - offset) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  return true;
}

constexpr uint64_t align4(uint64_t n) {
  return (n + 3) & ~uint64_t{3};
}

// Walks the notes of one SHT_NOTE section's bytes.
std::optional<uint32_t> find_in_section(std::span<const uint8_t> notes) {
  constexpr std::string_view kName(HL_NOTE_NAME, sizeof(HL_NOTE_NAME));  // with its NUL
  uint64_t at = 0;
  Elf64_Nhdr nh;
  while (read_at(notes, at, nh)) {
    const uint64_t name_at = at + sizeof nh;
    const uint64_t desc_at = name_at + align4(nh.n_namesz);
    const uint64_t next = desc_at + align4(nh.n_descsz);
    if (next > notes.size()) return std::nullopt;
    const std::string_view name(reinterpret_cast<const char*>(notes.data() + name_at), nh.n_namesz);
    uint32_t bits = 0;
    if (name == kName && nh.n_type == HL_NOTE_FEATURES && nh.n_descsz >= sizeof bits &&
        read_at(notes, desc_at, bits)) {
      return bits;
    }
    at = next;
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint32_t> read_feature_note(std::span<const uint8_t> file) {
  Elf64_Ehdr eh;
  if (!read_at(file, 0, eh)) return std::nullopt;
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) return std::nullopt;
  for (uint64_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    if (!read_at(file, eh.e_shoff + i * sizeof(Elf64_Shdr), sh)) return std::nullopt;
    if (sh.sh_type != SHT_NOTE) continue;
    if (sh.sh_offset > file.size() || sh.sh_size > file.size() - sh.sh_offset) continue;
    if (auto bits = find_in_section(file.subspan(sh.sh_offset, sh.sh_size))) return bits;
  }
  return std::nullopt;
}

}  // namespace hlrr::vmm
