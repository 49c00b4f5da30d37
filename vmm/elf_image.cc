#include "vmm/elf_image.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/hex.h"
#include "hl_abi.h"
#include "vmm/elf_note.h"

namespace hlrr::vmm {
namespace {

using base::hex;

// Reads a T at `offset` if the whole T lies inside `bytes`.
template <class T>
bool read_at(std::span<const uint8_t> bytes, uint64_t offset, T& out) {
  if (offset > bytes.size() || sizeof(T) > bytes.size() - offset) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  return true;
}

bool range_in_file(uint64_t offset, uint64_t size, uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

SymbolTable read_symbols(std::span<const uint8_t> bytes, const Elf64_Ehdr& eh) {
  std::vector<Symbol> out;
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) return {};
  for (uint64_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    if (!read_at(bytes, eh.e_shoff + i * sizeof(Elf64_Shdr), sh)) return {};
    if (sh.sh_type != SHT_SYMTAB || sh.sh_entsize != sizeof(Elf64_Sym)) continue;
    Elf64_Shdr strtab;
    if (!read_at(bytes, eh.e_shoff + uint64_t{sh.sh_link} * sizeof(Elf64_Shdr), strtab)) continue;
    if (!range_in_file(strtab.sh_offset, strtab.sh_size, bytes.size())) continue;
    if (!range_in_file(sh.sh_offset, sh.sh_size, bytes.size())) continue;
    for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= sh.sh_size; off += sizeof(Elf64_Sym)) {
      Elf64_Sym sym;
      if (!read_at(bytes, sh.sh_offset + off, sym)) break;
      const int type = ELF64_ST_TYPE(sym.st_info);
      if ((type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE) || sym.st_name == 0 ||
          sym.st_shndx == SHN_UNDEF || sym.st_value == 0 || sym.st_name >= strtab.sh_size) {
        continue;
      }
      const char* name =
          reinterpret_cast<const char*>(bytes.data() + strtab.sh_offset + sym.st_name);
      const size_t max_len = strtab.sh_size - sym.st_name;
      std::string s(name, strnlen(name, max_len));
      if (s.empty() || s[0] == '.' || s[0] == '$') continue;
      out.push_back({std::move(s), sym.st_value, sym.st_size, type == STT_FUNC});
    }
  }
  return SymbolTable(std::move(out));
}

}  // namespace

base::Expected<ElfImage> ElfImage::read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer. Only a regular file has a size to
  // trust: a directory cannot be read, /dev/zero never ends.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return base::fail("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const int stat_errno = errno;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return base::fail(stat_ok ? path + ": not a regular file"
                              : "cannot stat " + path + ": " + std::strerror(stat_errno));
  }
  // No guest memory is larger, so no loadable guest file is either.
  if (static_cast<uint64_t>(st.st_size) > HL_MAPPED_LIMIT) {
    ::close(fd);
    return base::fail(path + ": too large for a guest (" + std::to_string(st.st_size) + " bytes)");
  }
  std::vector<uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int read_errno = errno;
      ::close(fd);
      return base::fail("cannot read " + path + ": " + std::strerror(read_errno));
    }
    if (n == 0) break;  // the file shrank meanwhile: parse() judges what was read
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  auto image = parse(std::move(bytes));
  if (!image) return base::fail(path + ": " + image.error().message);
  return image;
}

base::Expected<ElfImage> ElfImage::parse(std::vector<uint8_t> bytes) {
  std::span<const uint8_t> file(bytes);
  Elf64_Ehdr eh;
  if (file.size() < EI_NIDENT || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) {
    return base::fail("not an ELF file (bad magic)");
  }
  if (file[EI_CLASS] != ELFCLASS64) return base::fail("not an ELF64 file (32-bit ELF)");
  if (!read_at(file, 0, eh)) return base::fail("truncated ELF header");
  if (file[EI_DATA] != ELFDATA2LSB) return base::fail("not a little-endian ELF file");
  if (eh.e_machine != EM_X86_64) {
    return base::fail("not an x86-64 executable (e_machine " + std::to_string(eh.e_machine) + ")");
  }
  if (eh.e_type != ET_EXEC) {
    return base::fail(eh.e_type == ET_DYN
                          ? "not a static executable (ET_DYN: PIE or shared object)"
                          : "not an executable (e_type " + std::to_string(eh.e_type) + ")");
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) return base::fail("bad program header entry size");
  if (eh.e_phnum == 0) return base::fail("no program headers");
  if (!range_in_file(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), file.size())) {
    return base::fail("truncated: program headers extend past the end of the file");
  }

  auto contents = std::make_shared<Contents>();
  for (uint64_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    HLRR_CHECK(read_at(file, eh.e_phoff + i * sizeof(Elf64_Phdr), ph));
    if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) {
      return base::fail("not a static executable (has a dynamic section or interpreter)");
    }
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    const std::string name = "segment " + std::to_string(i);
    if (!range_in_file(ph.p_offset, ph.p_filesz, file.size())) {
      return base::fail(name + " (file bytes " + hex(ph.p_offset) + "+" + hex(ph.p_filesz) +
                        ") lies outside the file (truncated?)");
    }
    if (ph.p_filesz > ph.p_memsz) return base::fail(name + " has file size > memory size");
    if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr) return base::fail(name + " wraps the address space");
    contents->segments.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz,
                                  (ph.p_flags & PF_X) != 0, (ph.p_flags & PF_W) != 0});
  }
  if (contents->segments.empty()) return base::fail("no loadable segments");
  auto sorted = contents->segments;
  std::sort(sorted.begin(), sorted.end(),
            [](const ElfSegment& a, const ElfSegment& b) { return a.vaddr < b.vaddr; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i - 1].vaddr + sorted[i - 1].memory_size > sorted[i].vaddr) {
      return base::fail("overlapping segments at " + hex(sorted[i - 1].vaddr) + " and " +
                        hex(sorted[i].vaddr));
    }
  }
  const bool entry_in_code = std::any_of(sorted.begin(), sorted.end(), [&](const ElfSegment& s) {
    return s.executable && eh.e_entry >= s.vaddr && eh.e_entry < s.vaddr + s.memory_size;
  });
  if (!entry_in_code)
    return base::fail("entry point " + hex(eh.e_entry) + " is not in an executable segment");
  contents->entry = eh.e_entry;
  contents->symbols = read_symbols(file, eh);
  std::vector<CodeRange> code;
  for (const auto& seg : contents->segments) {
    if (seg.executable) code.push_back({seg.vaddr, file.subspan(seg.file_offset, seg.file_size)});
  }
  contents->sites = scan_code(code, &contents->uses_fpu);
  contents->feature_note = read_feature_note(file);
  contents->bytes = std::move(bytes);
  return ElfImage(std::move(contents));
}

base::Status ElfImage::check_fits(uint64_t lowest, uint64_t memory_size) const {
  for (const auto& s : segments()) {
    if (s.vaddr < lowest || s.vaddr + s.memory_size > memory_size) {
      return base::fail("segment at " + hex(s.vaddr) + "+" + hex(s.memory_size) +
                        " lies outside guest memory [" + hex(lowest) + ", " + hex(memory_size) +
                        ")");
    }
  }
  return {};
}

base::Status ElfImage::load_into(GuestMemory& memory, uint64_t lowest) const {
  if (auto fits = check_fits(lowest, memory.size()); !fits) return fits;
  for (const auto& s : segments()) {
    if (auto st = memory.write(s.vaddr, bytes().subspan(s.file_offset, s.file_size)); !st) {
      return st;
    }
    // .bss: guest memory starts zeroed, but a restored or reused memory may not be.
    const std::vector<uint8_t> zeros(s.memory_size - s.file_size, 0);
    if (auto st = memory.write(s.vaddr + s.file_size, zeros); !st) return st;
  }
  return {};
}

bool ElfImage::needs_sse() const {
  const auto note = feature_note();
  return uses_fpu() || (note && (*note & HL_FEATURE_SSE) != 0);
}

uint64_t ElfImage::image_end() const {
  uint64_t end = 0;
  for (const auto& s : segments()) end = std::max(end, s.vaddr + s.memory_size);
  return end;
}

}  // namespace hlrr::vmm
