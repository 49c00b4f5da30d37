#include "trace_format/file_layout.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace hlrr::trace {
namespace {

template <class T>
void put(uint8_t* out, size_t& pos, T value) {
  std::memcpy(out + pos, &value, sizeof(T));
  pos += sizeof(T);
}

template <class T>
T get(const uint8_t* in, size_t& pos) {
  T value;
  std::memcpy(&value, in + pos, sizeof(T));
  pos += sizeof(T);
  return value;
}

bool has_magic(std::span<const uint8_t> bytes, const std::array<uint8_t, 8>& magic) {
  return bytes.size() >= magic.size() && std::equal(magic.begin(), magic.end(), bytes.begin());
}

}  // namespace

uint64_t checksum(std::span<const uint8_t> bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

std::vector<uint8_t> encode_file_header(const FileHeader& header) {
  HLRR_CHECK(header.writer_version.size() <= kMaxWriterVersionSize);
  std::vector<uint8_t> out(kFileHeaderFixedSize + header.writer_version.size());
  size_t pos = 0;
  std::memcpy(out.data(), kFileMagic.data(), kFileMagic.size());
  pos += kFileMagic.size();
  put<uint16_t>(out.data(), pos, header.major);
  put<uint16_t>(out.data(), pos, header.minor);
  put<uint32_t>(out.data(), pos, static_cast<uint32_t>(header.writer_version.size()));
  std::memcpy(out.data() + pos, header.writer_version.data(), header.writer_version.size());
  pos += header.writer_version.size();
  put<uint64_t>(out.data(), pos, checksum({out.data(), pos}));
  return out;
}

base::Expected<FileHeader> decode_file_header(std::span<const uint8_t> bytes, size_t* size,
                                              bool check_checksum) {
  if (!has_magic(bytes, kFileMagic)) return base::fail("not an hlrr trace (bad magic)");
  if (bytes.size() < 16) return base::fail("trace header truncated");
  size_t pos = kFileMagic.size();
  FileHeader header;
  header.major = get<uint16_t>(bytes.data(), pos);
  header.minor = get<uint16_t>(bytes.data(), pos);
  if (header.major > kFormatMajor) {
    return base::fail("trace format " + std::to_string(header.major) + "." +
                      std::to_string(header.minor) + " is newer than this hlrr reads (" +
                      std::to_string(kFormatMajor) + ".x): upgrade hlrr");
  }
  if (header.major < 1) {
    return base::fail("trace format " + std::to_string(header.major) + "." +
                      std::to_string(header.minor) + " is not a released format");
  }
  uint32_t version_size = get<uint32_t>(bytes.data(), pos);
  if (version_size > kMaxWriterVersionSize) {
    return base::fail("trace header: writer version length " + std::to_string(version_size) +
                      " exceeds " + std::to_string(kMaxWriterVersionSize));
  }
  size_t total = kFileHeaderFixedSize + version_size;
  if (bytes.size() < total) return base::fail("trace header truncated");
  header.writer_version.assign(reinterpret_cast<const char*>(bytes.data() + pos), version_size);
  pos += version_size;
  uint64_t stored = get<uint64_t>(bytes.data(), pos);
  if (check_checksum && stored != checksum(bytes.first(total - 8))) {
    return base::fail("trace header: checksum mismatch");
  }
  *size = total;
  return header;
}

std::array<uint8_t, kChunkHeaderSize> encode_chunk_header(const ChunkHeader& header) {
  std::array<uint8_t, kChunkHeaderSize> out{};
  size_t pos = 0;
  std::memcpy(out.data(), kChunkMagic.data(), kChunkMagic.size());
  pos += kChunkMagic.size();
  put<uint32_t>(out.data(), pos, header.compressed_size);
  put<uint32_t>(out.data(), pos, header.uncompressed_size);
  put<uint32_t>(out.data(), pos, header.record_count);
  put<uint32_t>(out.data(), pos, header.exit_count);
  put<uint64_t>(out.data(), pos, header.first_exit);
  put<uint64_t>(out.data(), pos, header.first_instruction_count);
  put<uint64_t>(out.data(), pos, header.payload_checksum);
  put<uint64_t>(out.data(), pos, checksum({out.data(), pos}));
  HLRR_CHECK(pos == kChunkHeaderSize);
  return out;
}

base::Expected<ChunkHeader> decode_chunk_header(std::span<const uint8_t> bytes,
                                                bool check_checksum) {
  if (bytes.size() < kChunkHeaderSize) return base::fail("chunk header truncated");
  if (!has_magic(bytes, kChunkMagic)) return base::fail("bad chunk magic");
  size_t pos = kChunkMagic.size();
  ChunkHeader header;
  header.compressed_size = get<uint32_t>(bytes.data(), pos);
  header.uncompressed_size = get<uint32_t>(bytes.data(), pos);
  header.record_count = get<uint32_t>(bytes.data(), pos);
  header.exit_count = get<uint32_t>(bytes.data(), pos);
  header.first_exit = get<uint64_t>(bytes.data(), pos);
  header.first_instruction_count = get<uint64_t>(bytes.data(), pos);
  header.payload_checksum = get<uint64_t>(bytes.data(), pos);
  uint64_t stored = get<uint64_t>(bytes.data(), pos);
  if (check_checksum && stored != checksum(bytes.first(kChunkHeaderSize - 8))) {
    return base::fail("chunk header checksum mismatch");
  }
  if (header.compressed_size > kMaxChunkSize || header.uncompressed_size > kMaxChunkSize) {
    return base::fail("chunk size over the 1 GiB cap");
  }
  return header;
}

std::array<uint8_t, kFooterSize> encode_footer(const Footer& footer) {
  std::array<uint8_t, kFooterSize> out{};
  size_t pos = 0;
  std::memcpy(out.data(), kFooterMagic.data(), kFooterMagic.size());
  pos += kFooterMagic.size();
  put<uint64_t>(out.data(), pos, footer.index_offset);
  put<uint64_t>(out.data(), pos, footer.index_size);
  put<uint64_t>(out.data(), pos, footer.index_checksum);
  put<uint64_t>(out.data(), pos, footer.chunk_count);
  put<uint64_t>(out.data(), pos, footer.exit_count);
  put<uint64_t>(out.data(), pos, checksum({out.data(), pos}));
  HLRR_CHECK(pos == kFooterSize);
  return out;
}

base::Expected<Footer> decode_footer(std::span<const uint8_t> bytes, bool check_checksum) {
  if (bytes.size() < kFooterSize) return base::fail("footer truncated");
  if (!has_magic(bytes, kFooterMagic)) return base::fail("footer missing (bad magic)");
  size_t pos = kFooterMagic.size();
  Footer footer;
  footer.index_offset = get<uint64_t>(bytes.data(), pos);
  footer.index_size = get<uint64_t>(bytes.data(), pos);
  footer.index_checksum = get<uint64_t>(bytes.data(), pos);
  footer.chunk_count = get<uint64_t>(bytes.data(), pos);
  footer.exit_count = get<uint64_t>(bytes.data(), pos);
  uint64_t stored = get<uint64_t>(bytes.data(), pos);
  if (check_checksum && stored != checksum(bytes.first(kFooterSize - 8))) {
    return base::fail("footer checksum mismatch");
  }
  return footer;
}

}  // namespace hlrr::trace
