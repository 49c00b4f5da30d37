// The guest's .note.hlrr: what the SDK writes into every guest, and what the loader makes of it.
#include "vmm/elf_note.h"

#include <gtest/gtest.h>

#include <string>

#include "hl_abi.h"
#include "tests/vmm/elf_builder.h"
#include "vmm/elf_image.h"

namespace hlrr::vmm {
namespace {

using testing::build_elf;

ElfImage built_guest(const std::string& name) {
  auto image = ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/" + name + ".elf");
  EXPECT_TRUE(image) << image.error().message;
  return *image;
}

// Appends one SHT_NOTE section holding a note (name, type, desc) and its section headers.
void add_note(std::vector<uint8_t>& file, const std::string& name, uint32_t type,
              std::vector<uint8_t> desc, uint32_t claimed_descsz = UINT32_MAX) {
  std::vector<uint8_t> note(sizeof(Elf64_Nhdr));
  Elf64_Nhdr nh{
      static_cast<Elf64_Word>(name.size() + 1),
      claimed_descsz != UINT32_MAX ? claimed_descsz : static_cast<Elf64_Word>(desc.size()), type};
  std::memcpy(note.data(), &nh, sizeof nh);
  note.insert(note.end(), name.begin(), name.end());
  note.resize((note.size() + 1 + 3) & ~size_t{3});
  note.insert(note.end(), desc.begin(), desc.end());
  note.resize((note.size() + 3) & ~size_t{3});
  file.resize((file.size() + 7) & ~size_t{7});
  const uint64_t note_at = file.size();
  file.insert(file.end(), note.begin(), note.end());
  file.resize((file.size() + 7) & ~size_t{7});
  Elf64_Shdr sh[2]{};
  sh[1].sh_type = SHT_NOTE;
  sh[1].sh_offset = note_at;
  sh[1].sh_size = note.size();
  sh[1].sh_addralign = 4;
  Elf64_Ehdr eh;
  std::memcpy(&eh, file.data(), sizeof eh);
  eh.e_shoff = file.size();
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 2;
  std::memcpy(file.data(), &eh, sizeof eh);
  const auto* raw = reinterpret_cast<const uint8_t*>(sh);
  file.insert(file.end(), raw, raw + sizeof sh);
}

std::vector<uint8_t> bits(uint32_t v) {
  std::vector<uint8_t> out(4);
  std::memcpy(out.data(), &v, 4);
  return out;
}

// mov eax, 1; hlt -- and the same with `addps xmm0, xmm1` first.
const std::vector<uint8_t> kIntegerCode = {0xB8, 0x01, 0x00, 0x00, 0x00, 0xF4};
const std::vector<uint8_t> kSseCode = {0x0F, 0x58, 0xC1, 0xB8, 0x01, 0x00, 0x00, 0x00, 0xF4};

TEST(ElfNote, TheSdkWritesWhetherAGuestWasBuiltWithSse) {
  // Default flags: floats (SSE arithmetic in C), fpu (x87 in asm), libc_demo (musl).
  for (const char* name : {"floats", "fpu", "libc_demo"}) {
    const ElfImage image = built_guest(name);
    EXPECT_EQ(image.feature_note(), std::optional<uint32_t>(HL_FEATURE_SSE)) << name;
    EXPECT_TRUE(image.uses_fpu()) << name;
    EXPECT_TRUE(image.needs_sse()) << name;
  }
  // GENERAL_REGS_ONLY (the guests the KVM tests run): the note is there and says no SSE.
  for (const char* name : {"hello", "compute", "compute_release", "faults", "clock"}) {
    const ElfImage image = built_guest(name);
    EXPECT_EQ(image.feature_note(), std::optional<uint32_t>(0)) << name;
    EXPECT_FALSE(image.uses_fpu()) << name;
    EXPECT_FALSE(image.needs_sse()) << name;
  }
}

TEST(ElfNote, TheNoteOrTheCodeScanMakesAGuestNeedSse) {
  const auto plain = build_elf({{0x100000, kIntegerCode}}, 0x100000);
  // No note (not an SDK guest): the scan decides.
  auto image = ElfImage::parse(plain);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->feature_note(), std::nullopt);
  EXPECT_FALSE(image->needs_sse());
  image = ElfImage::parse(build_elf({{0x100000, kSseCode}}, 0x100000));
  ASSERT_TRUE(image);
  EXPECT_EQ(image->feature_note(), std::nullopt);
  EXPECT_TRUE(image->needs_sse());
  // A note saying SSE, on integer-only code: needed (code made at run time is not scanned).
  auto file = plain;
  add_note(file, "hlrr", HL_NOTE_FEATURES, bits(HL_FEATURE_SSE));
  image = ElfImage::parse(file);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->feature_note(), std::optional<uint32_t>(HL_FEATURE_SSE));
  EXPECT_FALSE(image->uses_fpu());
  EXPECT_TRUE(image->needs_sse());
  // A note saying no SSE on code that has it: the scan wins.
  file = build_elf({{0x100000, kSseCode}}, 0x100000);
  add_note(file, "hlrr", HL_NOTE_FEATURES, bits(0));
  image = ElfImage::parse(file);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->feature_note(), std::optional<uint32_t>(0));
  EXPECT_TRUE(image->needs_sse());
}

TEST(ElfNote, OtherAndMalformedNotesReadAsNone) {
  const auto plain = build_elf({{0x100000, kIntegerCode}}, 0x100000);
  auto file = plain;
  add_note(file, "GNU", HL_NOTE_FEATURES, bits(HL_FEATURE_SSE));
  EXPECT_EQ(read_feature_note(file), std::nullopt);
  file = plain;
  add_note(file, "hlrr", 2, bits(HL_FEATURE_SSE));
  EXPECT_EQ(read_feature_note(file), std::nullopt);
  file = plain;
  add_note(file, "hlrr", HL_NOTE_FEATURES, bits(HL_FEATURE_SSE), /*claimed_descsz=*/0x7fffffff);
  EXPECT_EQ(read_feature_note(file), std::nullopt);
  auto image = ElfImage::parse(file);  // a bad note does not make the file unloadable
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_FALSE(image->needs_sse());
}

}  // namespace
}  // namespace hlrr::vmm
