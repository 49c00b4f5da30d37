#include "debug/core_dump.h"

#include <elf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace hlrr::debug {
namespace {

// The Linux x86-64 note layouts gdb (and bfd) read from a core, spelled out here rather than
// taken from the host's <sys/procfs.h>: the file format is fixed whatever builds hlrr.
struct UserRegs {  // user_regs_struct
  uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax;
  uint64_t rip, cs, eflags, rsp, ss, fs_base, gs_base, ds, es, fs, gs;
};
static_assert(sizeof(UserRegs) == 27 * 8);

struct PrStatus {  // struct elf_prstatus
  int32_t si_signo, si_code, si_errno;
  int16_t cursig;
  uint16_t pad0;
  uint64_t sigpend, sighold;
  int32_t pid, ppid, pgrp, sid;
  uint64_t times[8];  // utime, stime, cutime, cstime (struct timeval each)
  UserRegs regs;
  int32_t fpvalid;
  uint32_t pad1;
};
static_assert(sizeof(PrStatus) == 336);

struct PrPsInfo {  // struct elf_prpsinfo
  char state, sname, zombie, nice;
  uint32_t pad0;
  uint64_t flag;
  uint32_t uid, gid;
  int32_t pid, ppid, pgrp, sid;
  char fname[16];
  char psargs[80];
};
static_assert(sizeof(PrPsInfo) == 136);

struct FpRegs {  // user_fpregs_struct: the FXSAVE area
  uint16_t cwd, swd, ftw, fop;
  uint64_t rip, rdp;
  uint32_t mxcsr, mxcr_mask;
  uint8_t st[8][16];
  uint8_t xmm[16][16];
  uint8_t padding[96];
};
static_assert(sizeof(FpRegs) == 512);

constexpr int32_t kPid = 1;  // one thread: gdb names it "LWP 1"

UserRegs user_regs(const RegisterFile& r) {
  return UserRegs{r.r15,    r.r14, r.r13, r.r12,     r.rbp,     r.rbx, r.r11, r.r10, r.r9,
                  r.r8,     r.rax, r.rcx, r.rdx,     r.rsi,     r.rdi, ~0ull, r.rip, r.cs,
                  r.rflags, r.rsp, r.ss,  r.fs_base, r.gs_base, r.ds,  r.es,  r.fs,  r.gs};
}

FpRegs fp_regs(const RegisterFile& r) {
  FpRegs fp{};
  fp.cwd = r.fcw;
  fp.swd = r.fsw;
  // FXSAVE's abridged tag: one bit per physical register, set when it is not empty (11).
  for (int i = 0; i < 8; ++i)
    if (((r.ftw >> (2 * i)) & 3) != 3) fp.ftw |= static_cast<uint16_t>(1u << i);
  fp.mxcsr = r.mxcsr;
  fp.mxcr_mask = 0xFFFF;
  for (int i = 0; i < 8; ++i) std::memcpy(fp.st[i], r.st[i].data(), r.st[i].size());
  for (int i = 0; i < 16; ++i) std::memcpy(fp.xmm[i], r.xmm[i].data(), r.xmm[i].size());
  return fp;
}

template <class T>
void append_note(std::vector<uint8_t>& out, uint32_t type, const T& desc) {
  static constexpr char kName[] = "CORE";  // namesz counts the NUL; padded to 4 bytes
  const Elf64_Nhdr header{sizeof(kName), sizeof(T), type};
  auto put = [&out](const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    out.insert(out.end(), bytes, bytes + size);
    out.resize((out.size() + 3) & ~size_t{3});
  };
  put(&header, sizeof(header));
  put(kName, sizeof(kName));
  put(&desc, sizeof(desc));
}

std::vector<uint8_t> notes(const CoreDump& dump) {
  PrStatus status{};
  status.si_signo = dump.signal;
  status.cursig = static_cast<int16_t>(dump.signal);
  status.pid = status.pgrp = status.sid = kPid;
  status.regs = user_regs(*dump.registers);
  status.fpvalid = 1;
  PrPsInfo info{};
  info.sname = 'R';
  info.pid = info.pgrp = info.sid = kPid;
  std::strncpy(info.fname, dump.program.c_str(), sizeof(info.fname) - 1);
  std::strncpy(info.psargs, dump.program.c_str(), sizeof(info.psargs) - 1);
  std::vector<uint8_t> out;
  append_note(out, NT_PRSTATUS, status);
  append_note(out, NT_PRPSINFO, info);
  append_note(out, NT_FPREGSET, fp_regs(*dump.registers));
  return out;
}

uint32_t segment_flags(const rsp::MemoryRegion& region) {
  return (region.readable ? PF_R : 0) | (region.writable ? PF_W : 0) |
         (region.executable ? PF_X : 0);
}

// The PT_NOTE, then a PT_LOAD per region. A region's bytes start at a file offset congruent to
// its address modulo the page size (ELF's rule for p_align), after the notes.
std::vector<Elf64_Phdr> program_headers(const std::vector<rsp::MemoryRegion>& regions,
                                        uint64_t note_size) {
  constexpr uint64_t kPage = GuestMemory::kPageSize;
  std::vector<Elf64_Phdr> ph(regions.size() + 1);
  uint64_t offset = sizeof(Elf64_Ehdr) + ph.size() * sizeof(Elf64_Phdr);
  ph[0] = Elf64_Phdr{PT_NOTE, 0, offset, 0, 0, note_size, 0, 4};
  offset += note_size;
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto& r = regions[i];
    offset = ((offset + kPage - 1) & ~(kPage - 1)) + (r.start & (kPage - 1));
    ph[i + 1] = Elf64_Phdr{PT_LOAD, segment_flags(r), offset, r.start, 0, r.size, r.size, kPage};
    offset += r.size;
  }
  return ph;
}

}  // namespace

base::Status write_core_dump(const std::string& path, const CoreDump& dump) {
  HLRR_CHECK(dump.registers && dump.memory);
  // A region the guest cannot read (a trace's null page and stack guard) stays out: gdb then
  // says "Cannot access memory" there, as the guest would fault.
  std::vector<rsp::MemoryRegion> regions;
  for (const auto& region : dump.regions) {
    if (!dump.memory->contains(region.start, region.size))
      return base::fail(path + ": region '" + region.name + "' lies outside guest memory");
    if (region.readable && region.size > 0) regions.push_back(region);
  }
  const std::vector<uint8_t> note = notes(dump);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;  // as Linux writes its cores
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<Elf64_Half>(regions.size() + 1);

  const std::vector<Elf64_Phdr> ph = program_headers(regions, note.size());
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) return base::fail(path + ": " + std::strerror(errno));
  auto put = [&](const void* data, size_t size) {
    return size == 0 || std::fwrite(data, 1, size, file.get()) == size;
  };
  bool ok = put(&eh, sizeof(eh)) && put(ph.data(), ph.size() * sizeof(Elf64_Phdr)) &&
            put(note.data(), note.size());
  uint64_t written = sizeof(eh) + ph.size() * sizeof(Elf64_Phdr) + note.size();
  for (size_t i = 0; ok && i < regions.size(); ++i) {
    const std::vector<uint8_t> zeros(ph[i + 1].p_offset - written);
    ok = put(zeros.data(), zeros.size()) &&
         put(dump.memory->host_base() + regions[i].start, regions[i].size);
    written = ph[i + 1].p_offset + regions[i].size;
  }
  if (!ok || std::fflush(file.get()) != 0) return base::fail(path + ": " + std::strerror(errno));
  if (std::fclose(file.release()) != 0) return base::fail(path + ": " + std::strerror(errno));
  return {};
}

}  // namespace hlrr::debug
