#include "rsp/host_io.h"

#include <algorithm>
#include <array>
#include <optional>

#include "base/check.h"
#include "rsp/hex.h"

namespace hlrr::rsp {
namespace {

constexpr uint64_t kFirstFd = 3;
constexpr std::size_t kMaxOpenFiles = 16;
constexpr uint64_t kFileioReadOnly = 0;     // gdb's FILEIO_O_RDONLY
constexpr uint32_t kRegularFile = 0100000;  // FILEIO_S_IFREG
constexpr std::size_t kFioStatSize = 64;    // gdb's struct fio_stat, packed

void fail(FileioErrno error, std::string& reply) {
  reply = "F-1,";
  append_hex_u64(reply, static_cast<uint64_t>(error));
}

std::optional<std::string> decode_path(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string path(hex.size() / 2, '\0');
  if (!decode_hex_bytes(hex, std::span(reinterpret_cast<uint8_t*>(path.data()), path.size()))) {
    return std::nullopt;
  }
  return path;
}

// Big-endian fields of gdb's struct fio_stat.
template <typename T>
void put_be(std::string& out, T value) {
  for (int i = sizeof(T) - 1; i >= 0; --i) out.push_back(static_cast<char>(value >> (8 * i)));
}

// "%08lx-%08lx" as the kernel prints addresses in maps.
std::string hex8(uint64_t value) {
  std::string digits;
  append_hex_u64(digits, value);
  return std::string(digits.size() < 8 ? 8 - digits.size() : 0, '0') + digits;
}

}  // namespace

HostIo::HostIo(Target& target, uint64_t pid, uint64_t max_data)
    : target_(target), pid_(pid), max_data_(max_data) {}

bool HostIo::offered(bool proc_files) const {
  return !target_.exec_file_bytes().empty() || (proc_files && !target_.memory_regions().empty());
}

std::string HostIo::proc_maps(std::span<const MemoryRegion> regions, bool smaps) {
  std::string out;
  for (const MemoryRegion& r : regions) {
    if (!r.readable || r.size == 0) continue;  // gdb would dump it and fail to read it
    out += hex8(r.start) + "-" + hex8(r.start + r.size) + " r";
    out += r.writable ? "w" : "-";
    out += r.executable ? "x" : "-";
    out += "p 00000000 00:00 0";
    if (!r.name.empty()) out += std::string(19, ' ') + "[" + r.name + "]";
    out += "\n";
    if (!smaps) continue;
    // gdb dumps a private mapping with anonymous pages under the default coredump_filter.
    const std::string kb = std::to_string((r.size + 1023) / 1024) + " kB\n";
    out += "Size:           " + kb;
    out += "Rss:            " + kb;
    out += "Anonymous:      " + kb;
  }
  return out;
}

std::span<const uint8_t> HostIo::data(const File& file) const {
  if (file.exec) return target_.exec_file_bytes();
  return {reinterpret_cast<const uint8_t*>(file.text.data()), file.text.size()};
}

const HostIo::File* HostIo::find(std::string_view fd_hex) const {
  auto fd = parse_hex_u64(fd_hex);
  if (!fd) return nullptr;
  auto it = files_.find(*fd);
  return it == files_.end() ? nullptr : &it->second;
}

bool HostIo::handle(std::string_view args, bool proc_files, std::string& reply) {
  if (!offered(proc_files)) return false;
  const std::size_t colon = args.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view op = args.substr(0, colon), rest = args.substr(colon + 1);
  if (op == "setfs") {
    // Whichever process's view the client picks, it sees the guest's files.
    if (parse_hex_u64(rest)) {
      reply = "F0";
    } else {
      fail(FileioErrno::kInval, reply);
    }
  } else if (op == "open") {
    open(rest, proc_files, reply);
  } else if (op == "pread") {
    pread(rest, reply);
  } else if (op == "fstat") {
    fstat(rest, reply);
  } else if (op == "close") {
    close(rest, reply);
  } else {
    return false;  // pwrite, unlink, readlink, ...: not implemented
  }
  return true;
}

void HostIo::open(std::string_view args, bool proc_files, std::string& reply) {
  // open:hexpath,flags,mode
  auto path_rest = split_once(args, ',');
  auto flags_mode = path_rest ? split_once(path_rest->second, ',') : std::nullopt;
  auto path = path_rest ? decode_path(path_rest->first) : std::nullopt;
  auto flags = flags_mode ? parse_hex_u64(flags_mode->first) : std::nullopt;
  if (!path || !flags || !parse_hex_u64(flags_mode->second))
    return fail(FileioErrno::kInval, reply);
  File file;
  const std::string proc = "/proc/" + std::to_string(pid_) + "/";
  if (!target_.exec_file_bytes().empty() && *path == target_.exec_file_path()) {
    file.exec = true;
  } else if (proc_files && (*path == proc + "maps" || *path == proc + "smaps")) {
    file.text = proc_maps(target_.memory_regions(), *path == proc + "smaps");
  } else {
    return fail(FileioErrno::kNoEnt, reply);  // never a host file
  }
  if (*flags != kFileioReadOnly) return fail(FileioErrno::kAcces, reply);
  if (files_.size() >= kMaxOpenFiles) return fail(FileioErrno::kMFile, reply);
  uint64_t fd = kFirstFd;
  while (files_.contains(fd)) ++fd;
  files_.emplace(fd, std::move(file));
  reply = "F";
  append_hex_u64(reply, fd);
}

void HostIo::pread(std::string_view args, std::string& reply) {
  // pread:fd,count,offset
  auto fd_rest = split_once(args, ',');
  auto count_offset = fd_rest ? split_once(fd_rest->second, ',') : std::nullopt;
  auto count = count_offset ? parse_hex_u64(count_offset->first) : std::nullopt;
  auto offset = count_offset ? parse_hex_u64(count_offset->second) : std::nullopt;
  if (!count || !offset || !parse_hex_u64(fd_rest->first)) return fail(FileioErrno::kInval, reply);
  const File* file = find(fd_rest->first);
  if (file == nullptr) return fail(FileioErrno::kBadF, reply);
  std::span<const uint8_t> bytes = data(*file);
  uint64_t length =
      *offset >= bytes.size() ? 0 : std::min<uint64_t>(*count, bytes.size() - *offset);
  // Binary data may double when escaped: the caller's bound keeps us within PacketSize.
  length = std::min(length, max_data_);
  reply = "F";
  append_hex_u64(reply, length);
  reply += ";";
  if (length > 0) reply.append(reinterpret_cast<const char*>(bytes.data()) + *offset, length);
}

void HostIo::fstat(std::string_view args, std::string& reply) {
  const File* file = find(args);
  if (file == nullptr) return fail(FileioErrno::kBadF, reply);
  const uint64_t size = data(*file).size();
  std::string st;
  put_be<uint32_t>(st, 0);                    // dev
  put_be<uint32_t>(st, 0);                    // ino
  put_be<uint32_t>(st, kRegularFile | 0444);  // mode
  put_be<uint32_t>(st, 1);                    // nlink
  put_be<uint32_t>(st, 0);                    // uid
  put_be<uint32_t>(st, 0);                    // gid
  put_be<uint32_t>(st, 0);                    // rdev
  put_be<uint64_t>(st, size);
  put_be<uint64_t>(st, 4096);                           // blksize
  put_be<uint64_t>(st, (size + 511) / 512);             // blocks
  for (int i = 0; i < 3; ++i) put_be<uint32_t>(st, 0);  // atime, mtime, ctime
  HLRR_CHECK(st.size() == kFioStatSize);
  reply = "F";
  append_hex_u64(reply, kFioStatSize);
  reply += ";" + st;
}

void HostIo::close(std::string_view args, std::string& reply) {
  auto fd = parse_hex_u64(args);
  if (!fd || files_.erase(*fd) == 0) return fail(FileioErrno::kBadF, reply);
  reply = "F0";
}

}  // namespace hlrr::rsp
