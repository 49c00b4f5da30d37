// The core writer's file, parsed back with <elf.h>'s structs: header, one PT_NOTE with the
// three notes in order, one PT_LOAD per region with its address, flags and bytes, and the
// registers where user_regs_struct and the FXSAVE area put them.
#include "debug/core_dump.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace hlrr::debug {
namespace {

class CoreDumpWriter : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<uint8_t> write_and_read(const CoreDump& dump) {
    const std::string path = dir_ + "/guest.core";
    auto st = write_core_dump(path, dump);
    EXPECT_TRUE(st) << st.error().message;
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  template <class T>
  static T at(const std::vector<uint8_t>& file, uint64_t offset) {
    T value{};
    EXPECT_LE(offset + sizeof(T), file.size());
    if (offset + sizeof(T) <= file.size()) std::memcpy(&value, file.data() + offset, sizeof(T));
    return value;
  }
  std::string dir_ = [] {
    char d[] = "/tmp/hlrr-core-XXXXXX";
    return std::string(mkdtemp(d));
  }();
};

TEST_F(CoreDumpWriter, WritesNotesAndOneLoadSegmentPerRegion) {
  auto memory = GuestMemory::create(0x10000);
  ASSERT_TRUE(memory);
  ASSERT_TRUE(memory->write_value<uint64_t>(0x2000, 0x1122334455667788ull));
  ASSERT_TRUE(memory->write_value<uint64_t>(0x8ff8, 0xabcdefull));
  ASSERT_TRUE(memory->write_value<uint64_t>(0x9018, 0x5566778899ull));
  RegisterFile regs;
  regs.rax = 0xa;
  regs.r15 = 0xf;
  regs.rip = 0x5008;
  regs.rsp = 0x8ff8;
  regs.rflags = 0x246;
  regs.cs = 0x8;
  regs.fcw = 0x37f;
  regs.ftw = 0xfffc;  // R0 valid, the rest empty
  regs.mxcsr = 0x1f80;
  regs.xmm[3][0] = 0x42;
  regs.st[0][9] = 0x3f;
  // The unreadable null page is left out, as a trace's memory layout lists it.
  const std::vector<rsp::MemoryRegion> listed = {{0, 0x1000, false, false, false, "null page"},
                                                 {0x1000, 0x3000, true, true, false, "data"},
                                                 {0x5000, 0x1000, true, false, true, "text"},
                                                 {0x8000, 0x1000, true, true, false, "stack"},
                                                 {0x9010, 0x20, true, false, false, "odd"}};
  const std::vector<rsp::MemoryRegion> regions = {{0x1000, 0x3000, true, true, false, "data"},
                                                  {0x5000, 0x1000, true, false, true, "text"},
                                                  {0x8000, 0x1000, true, true, false, "stack"},
                                                  {0x9010, 0x20, true, false, false, "odd"}};
  const auto file = write_and_read({.registers = &regs,
                                    .memory = &*memory,
                                    .regions = listed,
                                    .program = "faults.elf",
                                    .signal = SIGSEGV});
  const auto eh = at<Elf64_Ehdr>(file, 0);
  ASSERT_EQ(std::memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(eh.e_type, ET_CORE);
  EXPECT_EQ(eh.e_machine, EM_X86_64);
  ASSERT_EQ(eh.e_phnum, 5);
  const auto note = at<Elf64_Phdr>(file, eh.e_phoff);
  ASSERT_EQ(note.p_type, PT_NOTE);
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto ph = at<Elf64_Phdr>(file, eh.e_phoff + (i + 1) * sizeof(Elf64_Phdr));
    EXPECT_EQ(ph.p_type, PT_LOAD);
    EXPECT_EQ(ph.p_vaddr, regions[i].start);
    EXPECT_EQ(ph.p_filesz, regions[i].size);
    EXPECT_EQ(ph.p_memsz, regions[i].size);
    EXPECT_EQ(ph.p_offset % 0x1000, regions[i].start % 0x1000);  // ELF's p_align rule
    EXPECT_EQ(ph.p_flags, i == 1 ? (PF_R | PF_X) : i == 3 ? PF_R : (PF_R | PF_W));
  }
  const auto data = at<Elf64_Phdr>(file, eh.e_phoff + sizeof(Elf64_Phdr));
  EXPECT_EQ(at<uint64_t>(file, data.p_offset + 0x1000), 0x1122334455667788ull);
  const auto stack = at<Elf64_Phdr>(file, eh.e_phoff + 3 * sizeof(Elf64_Phdr));
  EXPECT_EQ(at<uint64_t>(file, stack.p_offset + 0xff8), 0xabcdefull);
  const auto odd = at<Elf64_Phdr>(file, eh.e_phoff + 4 * sizeof(Elf64_Phdr));
  EXPECT_EQ(at<uint64_t>(file, odd.p_offset + 0x8), 0x5566778899ull);
  EXPECT_EQ(file.size(), odd.p_offset + 0x20);

  // The notes: PRSTATUS (336 bytes), PRPSINFO (136), FPREGSET (512), each named "CORE".
  std::vector<std::pair<uint32_t, uint64_t>> notes;  // type, descriptor offset
  for (uint64_t off = note.p_offset; off < note.p_offset + note.p_filesz;) {
    const auto nh = at<Elf64_Nhdr>(file, off);
    EXPECT_EQ(nh.n_namesz, 5u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.data() + off + 12)), "CORE");
    const uint64_t desc = off + 12 + 8;
    notes.push_back({nh.n_type, desc});
    off = desc + ((nh.n_descsz + 3) & ~3u);
  }
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[0].first, static_cast<uint32_t>(NT_PRSTATUS));
  EXPECT_EQ(notes[1].first, static_cast<uint32_t>(NT_PRPSINFO));
  EXPECT_EQ(notes[2].first, static_cast<uint32_t>(NT_FPREGSET));
  const uint64_t status = notes[0].second, gregs = status + 112;
  EXPECT_EQ(at<int32_t>(file, status), SIGSEGV);
  EXPECT_EQ(at<int16_t>(file, status + 12), SIGSEGV);
  EXPECT_EQ(at<uint64_t>(file, gregs + 0 * 8), 0xfu);      // r15
  EXPECT_EQ(at<uint64_t>(file, gregs + 10 * 8), 0xau);     // rax
  EXPECT_EQ(at<uint64_t>(file, gregs + 16 * 8), 0x5008u);  // rip
  EXPECT_EQ(at<uint64_t>(file, gregs + 17 * 8), 0x8u);     // cs
  EXPECT_EQ(at<uint64_t>(file, gregs + 18 * 8), 0x246u);   // eflags
  EXPECT_EQ(at<uint64_t>(file, gregs + 19 * 8), 0x8ff8u);  // rsp
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.data() + notes[1].second + 40)),
            "faults.elf");
  const uint64_t fp = notes[2].second;
  EXPECT_EQ(at<uint16_t>(file, fp), 0x37f);
  EXPECT_EQ(at<uint16_t>(file, fp + 4), 0x1);  // abridged tag: R0 only
  EXPECT_EQ(at<uint32_t>(file, fp + 24), 0x1f80u);
  EXPECT_EQ(at<uint8_t>(file, fp + 32 + 9), 0x3f);        // st0's top byte
  EXPECT_EQ(at<uint8_t>(file, fp + 160 + 3 * 16), 0x42);  // xmm3
}

TEST_F(CoreDumpWriter, ARegionOutsideMemoryOrAFullDiskIsAnError) {
  auto memory = GuestMemory::create(0x4000);
  ASSERT_TRUE(memory);
  RegisterFile regs;
  const std::vector<rsp::MemoryRegion> beyond = {{0x3000, 0x2000, true, true, false, "heap"}};
  auto st = write_core_dump(dir_ + "/x.core",
                            {.registers = &regs, .memory = &*memory, .regions = beyond});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, dir_ + "/x.core: region 'heap' lies outside guest memory");
  const std::vector<rsp::MemoryRegion> inside = {{0x1000, 0x3000, true, true, false, "heap"}};
  st = write_core_dump("/dev/full", {.registers = &regs, .memory = &*memory, .regions = inside});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "/dev/full: No space left on device");
  st = write_core_dump(dir_ + "/no/such/dir.core",
                       {.registers = &regs, .memory = &*memory, .regions = inside});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, dir_ + "/no/such/dir.core: No such file or directory");
}

}  // namespace
}  // namespace hlrr::debug
