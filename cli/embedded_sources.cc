#include "cli/embedded_sources.h"

#include <filesystem>
#include <fstream>

#include "base/printable.h"

namespace hlrr::cli {
namespace {

bool safe_absolute(const std::filesystem::path& path) {
  if (!path.is_absolute()) return false;
  for (const auto& part : path) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

base::Expected<size_t> extract_sources(const trace::Setup& setup, const std::string& dir) {
  namespace fs = std::filesystem;
  size_t written = 0;
  for (const trace::SourceFile& source : setup.sources) {
    const fs::path path(source.path);
    if (!safe_absolute(path))
      return base::fail("embedded source " + base::printable(source.path) +
                        ": not an absolute path without `..`");
    const fs::path target = fs::path(dir) / path.relative_path();
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return base::fail(target.parent_path().string() + ": " + ec.message());
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(source.content.data()),
              static_cast<std::streamsize>(source.content.size()));
    if (!out) return base::fail(target.string() + ": cannot write");
    ++written;
  }
  return written;
}

}  // namespace hlrr::cli
