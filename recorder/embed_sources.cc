#include "recorder/embed_sources.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "dwarf/source_lines.h"

namespace hlrr::recorder {

std::vector<trace::SourceFile> read_guest_sources(
    std::span<const uint8_t> elf, const std::function<void(const std::string&)>& notice) {
  std::vector<trace::SourceFile> sources;
  auto lines = dwarf::SourceLines::open(elf);
  if (!lines || !lines->has_debug_info()) {
    if (notice) notice("--embed-sources: the guest has no DWARF line tables: nothing embedded");
    return sources;
  }
  for (const dwarf::SourceFile& file : lines->source_files()) {
    std::error_code ec;
    const auto status = std::filesystem::status(file.path, ec);
    std::string why;
    if (ec || !std::filesystem::exists(status)) {
      why = "not found";
    } else if (!std::filesystem::is_regular_file(status)) {
      why = "not a regular file";
    } else if (std::filesystem::file_size(file.path, ec) > kMaxEmbeddedSource) {
      why = "larger than " + std::to_string(kMaxEmbeddedSource >> 20) + " MiB";
    }
    std::ifstream in(file.path, std::ios::binary);
    if (why.empty() && !in) why = "unreadable";
    if (!why.empty()) {
      if (notice) notice("--embed-sources: " + file.path + ": " + why + ", not embedded");
      continue;
    }
    sources.push_back(
        trace::SourceFile{file.path, std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {})});
  }
  return sources;
}

}  // namespace hlrr::recorder
