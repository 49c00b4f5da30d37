#include "recorder/kept_trace.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hlrr::recorder {

base::Status write_trace_atomically(const std::string& path, const trace::Setup& setup,
                                    std::vector<trace::Record>& records, trace::End end,
                                    const trace::WriterOptions& options) {
  const std::filesystem::path final_path(path);
  const std::filesystem::path dir =
      final_path.has_parent_path() ? final_path.parent_path() : std::filesystem::path(".");
  // Hidden and named per process: never mistaken for a kept trace, never shared by two hosts.
  const std::string temp =
      (dir / ("." + final_path.filename().string() + ".tmp-" + std::to_string(::getpid())))
          .string();
  auto writer = trace::TraceWriter::open(temp, setup, options);
  if (!writer) return base::Unexpected(std::move(writer).error());
  base::Status status = (*writer)->append_batch(records);
  // finish() writes the index and footer, fsyncs and closes, whatever append said.
  if (base::Status finished = (*writer)->finish(std::move(end)); status && !finished)
    status = std::move(finished);
  if (status && ::rename(temp.c_str(), path.c_str()) != 0)
    status = base::fail("cannot rename " + temp + " to " + path + ": " + std::strerror(errno));
  if (!status) {
    ::unlink(temp.c_str());
    return status;
  }
  // The rename itself must survive a crash of the machine, not only of the process.
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return base::fail("cannot open " + dir.string() + ": " + std::strerror(errno));
  const bool synced = ::fsync(fd) == 0;
  const int sync_errno = errno;
  ::close(fd);
  if (!synced) return base::fail("cannot sync " + dir.string() + ": " + std::strerror(sync_errno));
  return {};
}

std::string unused_trace_path(const std::string& directory, const std::string& stem) {
  std::string clean = stem;
  for (char& c : clean) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  const std::filesystem::path dir(directory);
  std::filesystem::path candidate = dir / (clean + ".cap");
  for (int n = 2; std::filesystem::exists(candidate); ++n)
    candidate = dir / (clean + "-" + std::to_string(n) + ".cap");
  return candidate.string();
}

}  // namespace hlrr::recorder
