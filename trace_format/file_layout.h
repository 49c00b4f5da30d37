// The byte layout around the capnp records: file header, chunk header, footer (see
// docs/trace-format.md). Fixed-size little-endian fields, each block carrying its own magic and an
// XXH3-64 checksum, so that a reader can tell a complete block from garbage or a cut-off one.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"

namespace hlrr::trace {

static_assert(std::endian::native == std::endian::little,
              "the trace layout code assumes little-endian");

// Format version (rr's rule): bump the major version for any change an older reader would
// misread; bump the minor one for additions an older reader can ignore. Readers refuse a newer
// major version and read every older one they know.
inline constexpr uint16_t kFormatMajor = 1;
// 1.1: CallStart registers and host writes; 1.2: DebuggerWrite records; 1.3: x87 fop/fip/fdp;
// 1.4: Setup.sources; 1.5: MemoryDelta.pageDigests.
inline constexpr uint16_t kFormatMinor = 5;

// PNG-style magics: a high byte and CR LF catch 7-bit and text-mode mangling.
inline constexpr std::array<uint8_t, 8> kFileMagic = {0x89, 'H', 'L', 'R', 'R', 'T', '\r', '\n'};
inline constexpr std::array<uint8_t, 8> kChunkMagic = {0x89, 'H', 'L', 'R', 'R', 'C', '\r', '\n'};
inline constexpr std::array<uint8_t, 8> kFooterMagic = {0x89, 'H', 'L', 'R', 'R', 'F', '\r', '\n'};

inline constexpr size_t kFileHeaderFixedSize = 24;  // magic, major, minor, version length, checksum
inline constexpr size_t kMaxWriterVersionSize = 256;
inline constexpr size_t kChunkHeaderSize = 56;
inline constexpr size_t kFooterSize = 56;
// Sanity caps a reader enforces before allocating (a chunk normally holds ~64 KiB; the Setup chunk
// holds the ELF and the initial memory image).
inline constexpr uint64_t kMaxChunkSize = uint64_t{1} << 30;
inline constexpr uint64_t kMaxIndexSize = uint64_t{1} << 30;

uint64_t checksum(std::span<const uint8_t> bytes);

struct FileHeader {
  uint16_t major = kFormatMajor;
  uint16_t minor = kFormatMinor;
  std::string writer_version;
};

std::vector<uint8_t> encode_file_header(const FileHeader& header);
// Parses a header from the start of `bytes` (which may be longer). On success also returns the
// header's size in bytes. Errors: "not an hlrr trace (bad magic)", the newer-version refusal, ...
base::Expected<FileHeader> decode_file_header(std::span<const uint8_t> bytes, size_t* size,
                                              bool check_checksum);

struct ChunkHeader {
  uint32_t compressed_size = 0;    // bytes of the zstd frame following the header
  uint32_t uncompressed_size = 0;  // bytes of capnp messages in it
  uint32_t record_count = 0;
  uint32_t exit_count = 0;
  uint64_t first_exit = 0;
  uint64_t first_instruction_count = 0;
  uint64_t payload_checksum = 0;  // checksum of the compressed bytes
};

std::array<uint8_t, kChunkHeaderSize> encode_chunk_header(const ChunkHeader& header);
// Errors: "bad chunk magic", "chunk header checksum mismatch", sizes over the caps.
base::Expected<ChunkHeader> decode_chunk_header(std::span<const uint8_t> bytes,
                                                bool check_checksum);

struct Footer {
  uint64_t index_offset = 0;
  uint64_t index_size = 0;
  uint64_t index_checksum = 0;
  uint64_t chunk_count = 0;
  uint64_t exit_count = 0;
};

std::array<uint8_t, kFooterSize> encode_footer(const Footer& footer);
base::Expected<Footer> decode_footer(std::span<const uint8_t> bytes, bool check_checksum);

// One entry of the chunk index (also what a recovery scan rebuilds from the chunk headers).
struct ChunkInfo {
  uint64_t offset = 0;                   // file offset of the chunk header
  uint64_t first_exit = 0;               // sequence of its first exit (the next one's if none)
  uint64_t first_instruction_count = 0;  // of its first exit; 0 = none or unknown
  uint32_t exit_count = 0;
  uint32_t record_count = 0;
  bool operator==(const ChunkInfo&) const = default;
};

}  // namespace hlrr::trace
