// Builds small ELF64 files in memory for loader tests: valid ones, and each kind of broken one.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace hlrr::vmm::testing {

struct TestSegment {
  uint64_t vaddr;
  std::vector<uint8_t> bytes;
  uint64_t memory_size = 0;  // 0: bytes.size()
  uint32_t flags = PF_R | PF_X;
};

inline std::vector<uint8_t> build_elf(const std::vector<TestSegment>& segments, uint64_t entry,
                                      uint16_t type = ET_EXEC, uint16_t machine = EM_X86_64) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = type;
  eh.e_machine = machine;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<uint16_t>(segments.size());
  std::vector<uint8_t> file(sizeof(Elf64_Ehdr) + segments.size() * sizeof(Elf64_Phdr));
  std::memcpy(file.data(), &eh, sizeof eh);
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& s = segments[i];
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = s.flags;
    ph.p_offset = file.size();
    ph.p_vaddr = ph.p_paddr = s.vaddr;
    ph.p_filesz = s.bytes.size();
    ph.p_memsz = s.memory_size ? s.memory_size : s.bytes.size();
    ph.p_align = 0x1000;
    std::memcpy(file.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &ph, sizeof ph);
    file.insert(file.end(), s.bytes.begin(), s.bytes.end());
  }
  return file;
}

// Patches the i-th program header.
inline void patch_phdr(std::vector<uint8_t>& file, size_t i, void (*patch)(Elf64_Phdr&)) {
  Elf64_Phdr ph;
  const size_t off = sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr);
  std::memcpy(&ph, file.data() + off, sizeof ph);
  patch(ph);
  std::memcpy(file.data() + off, &ph, sizeof ph);
}

}  // namespace hlrr::vmm::testing
