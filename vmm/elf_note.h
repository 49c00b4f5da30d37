// The guest's .note.hlrr (guest/runtime/features.S): what the guest says it needs of the vCPU.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace hlrr::vmm {

// The HL_FEATURE_* bits of the first "hlrr" note of type HL_NOTE_FEATURES in the SHT_NOTE
// sections of the ELF file `file` (its header already validated as ELF64 little-endian), or
// nullopt when there is none (a guest not built with the SDK, or an older one). Malformed
// section headers or notes read as "no note": the note is advice, the code scan is the rest.
std::optional<uint32_t> read_feature_note(std::span<const uint8_t> file);

}  // namespace hlrr::vmm
