#include "vmm/elf_image.h"

#include <gtest/gtest.h>

#include "tests/vmm/elf_builder.h"

namespace hlrr::vmm {
namespace {

using testing::build_elf;
using testing::patch_phdr;
using testing::TestSegment;

constexpr uint64_t kBase = 0x100000;

std::vector<uint8_t> valid_elf() {
  return build_elf({{kBase, {0x90, 0xF4}}, {kBase + 0x1000, {1, 2, 3}, 0x2000, PF_R | PF_W}},
                   kBase);
}

std::string refusal(std::vector<uint8_t> bytes) {
  auto image = ElfImage::parse(std::move(bytes));
  return image ? "accepted" : image.error().message;
}

TEST(ElfImage, AcceptsAStaticExecutableAndLoadsIt) {
  auto image = ElfImage::parse(valid_elf());
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_EQ(image->entry(), kBase);
  ASSERT_EQ(image->segments().size(), 2u);
  EXPECT_TRUE(image->segments()[0].executable);
  EXPECT_TRUE(image->segments()[1].writable);
  EXPECT_EQ(image->image_end(), kBase + 0x3000);

  auto memory = GuestMemory::create(0x400000);
  ASSERT_TRUE(memory.has_value());
  ASSERT_TRUE(memory->write_value<uint8_t>(kBase + 0x1005, 0xAA).has_value());  // stale .bss byte
  ASSERT_TRUE(image->load_into(*memory, kBase).has_value());
  EXPECT_EQ(*memory->read_value<uint16_t>(kBase), 0xF490);
  EXPECT_EQ(*memory->read_value<uint8_t>(kBase + 0x1002), 3);
  EXPECT_EQ(*memory->read_value<uint8_t>(kBase + 0x1005), 0);  // .bss zero-filled
}

TEST(ElfImage, RefusesTruncatedFiles) {
  auto bytes = valid_elf();
  EXPECT_EQ(refusal({bytes.begin(), bytes.begin() + 3}), "not an ELF file (bad magic)");
  EXPECT_EQ(refusal({bytes.begin(), bytes.begin() + 40}), "truncated ELF header");
  EXPECT_EQ(refusal({bytes.begin(), bytes.begin() + 80}),
            "truncated: program headers extend past the end of the file");
  EXPECT_EQ(refusal({bytes.begin(), bytes.end() - 1}),
            "segment 1 (file bytes 0xb2+0x3) lies outside the file (truncated?)");
}

TEST(ElfImage, RefusesWhatIsNotAnX8664Executable) {
  auto bytes = valid_elf();
  bytes[EI_CLASS] = ELFCLASS32;
  EXPECT_EQ(refusal(bytes), "not an ELF64 file (32-bit ELF)");
  EXPECT_EQ(refusal(build_elf({{kBase, {0xF4}}}, kBase, ET_EXEC, EM_AARCH64)),
            "not an x86-64 executable (e_machine 183)");
  EXPECT_EQ(refusal(build_elf({{kBase, {0xF4}}}, kBase, ET_DYN)),
            "not a static executable (ET_DYN: PIE or shared object)");
  EXPECT_EQ(refusal(build_elf({{kBase, {0xF4}}}, kBase, ET_REL)), "not an executable (e_type 1)");
  EXPECT_EQ(refusal({'h', 'e', 'l', 'l', 'o'}), "not an ELF file (bad magic)");
}

TEST(ElfImage, RefusesBadSegments) {
  auto outside_file = valid_elf();
  patch_phdr(outside_file, 0, [](Elf64_Phdr& ph) { ph.p_offset = 0x100000; });
  EXPECT_EQ(refusal(outside_file),
            "segment 0 (file bytes 0x100000+0x2) lies outside the file (truncated?)");

  EXPECT_EQ(refusal(build_elf(
                {{kBase, {0x90, 0xF4}, 0x2000}, {kBase + 0x1000, {1}, 0, PF_R | PF_W}}, kBase)),
            "overlapping segments at 0x100000 and 0x101000");

  auto bigger_file = valid_elf();
  patch_phdr(bigger_file, 1, [](Elf64_Phdr& ph) { ph.p_memsz = 1; });
  EXPECT_EQ(refusal(bigger_file), "segment 1 has file size > memory size");

  EXPECT_EQ(refusal(build_elf({{kBase, {0xF4}, 0, PF_R | PF_W}}, kBase)),
            "entry point 0x100000 is not in an executable segment");
}

TEST(ElfImage, RefusesSegmentsOutsideGuestMemory) {
  auto image = ElfImage::parse(build_elf({{0x1000, {0xF4}}}, 0x1000));
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->check_fits(kBase, 0x400000).error().message,
            "segment at 0x1000+0x1 lies outside guest memory [0x100000, 0x400000)");
  auto high = ElfImage::parse(build_elf({{0x3FF000, {0xF4}, 0x2000}}, 0x3FF000));
  ASSERT_TRUE(high.has_value());
  auto memory = GuestMemory::create(0x400000);
  ASSERT_TRUE(memory.has_value());
  EXPECT_EQ(high->load_into(*memory, kBase).error().message,
            "segment at 0x3ff000+0x2000 lies outside guest memory [0x100000, 0x400000)");
}

TEST(ElfImage, ReadFileNamesTheFile) {
  auto missing = ElfImage::read_file("/nonexistent/guest.elf");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message,
            "cannot open /nonexistent/guest.elf: No such file or directory");
}

}  // namespace
}  // namespace hlrr::vmm
