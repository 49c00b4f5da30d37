// ElfImage: a guest executable, parsed and validated. Accepts only what hlrr can run: a static,
// non-PIE x86-64 ELF64 executable (ET_EXEC) whose loadable segments lie inside the file, do not
// overlap, and fit in guest memory above the VMM's reserved area. Anything else is refused with
// a one-line reason before a byte of it is loaded.
//
// An ElfImage is immutable and cheap to copy (its contents are shared), so a host that loads a
// guest once can create a pool of sandboxes from it; the code scan (code_scan.h) is done once,
// at parse time.
//
// Parsed by hand over <elf.h> rather than with libelf: the checks above need exact, fuzzable
// one-line refusals, and a static executable needs only the headers and the symbol table.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "vmm/code_scan.h"
#include "vmm/guest_memory.h"
#include "vmm/symbol_table.h"

namespace hlrr::vmm {

struct ElfSegment {
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;
  uint64_t file_size = 0;
  uint64_t memory_size = 0;
  bool executable = false;
  bool writable = false;
};

class ElfImage {
 public:
  // Parses and validates the headers. `bytes` is kept: traces embed the exact file.
  static base::Expected<ElfImage> parse(std::vector<uint8_t> bytes);
  static base::Expected<ElfImage> read_file(const std::string& path);

  // Refuses segments outside [lowest, memory_size).
  base::Status check_fits(uint64_t lowest, uint64_t memory_size) const;
  // Copies the segments into guest memory (zero-filling .bss). Calls check_fits first.
  base::Status load_into(GuestMemory& memory, uint64_t lowest) const;

  uint64_t entry() const { return contents_->entry; }
  const std::vector<ElfSegment>& segments() const { return contents_->segments; }
  const SymbolTable& symbols() const { return contents_->symbols; }
  std::span<const uint8_t> bytes() const { return contents_->bytes; }
  // The port-I/O, hlt and non-deterministic instructions of the executable segments.
  const std::vector<InstructionSite>& instruction_sites() const { return contents_->sites; }
  // Whether the code touches x87/MMX/SSE state at all (a code scan of the executable segments).
  bool uses_fpu() const { return contents_->uses_fpu; }
  // The HL_FEATURE_* bits of the guest's .note.hlrr (vmm/elf_note.h); nullopt without one.
  std::optional<uint32_t> feature_note() const { return contents_->feature_note; }
  // Whether only a vCPU that executes x87/SSE can run the guest: its note says it was built with
  // them (which covers code the scan cannot see: generated at run time), or the scan found
  // such an instruction (which covers guests without the note, and a note that understates).
  bool needs_sse() const;
  // One past the highest loaded byte: where the guest heap may begin.
  uint64_t image_end() const;

 private:
  struct Contents {
    std::vector<uint8_t> bytes;
    uint64_t entry = 0;
    std::vector<ElfSegment> segments;
    SymbolTable symbols;
    std::vector<InstructionSite> sites;
    bool uses_fpu = false;
    std::optional<uint32_t> feature_note;
  };
  explicit ElfImage(std::shared_ptr<const Contents> contents) : contents_(std::move(contents)) {}

  std::shared_ptr<const Contents> contents_;
};

}  // namespace hlrr::vmm
