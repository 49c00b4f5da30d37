// Host I/O (the `vFile:` packets): the files a client may open "on the target's machine". The
// guest is no process of the machine the server runs on, so no host file is ever served (a remote
// client must not read the server's files through us); only files that describe the guest:
//   - the executable (Target::exec_file_bytes()), so gdb needs no copy of it;
//   - /proc/PID/maps and /proc/PID/smaps, synthesized from Target::memory_regions(): gdb's
//     `gcore` reads them to know what memory to dump (it asks only for the real PID that the
//     multiprocess extension gives it).
// Everything else is ENOENT. Replies are `F result[,errno][;data]`, numbers in hex, errno in
// gdb's File-I/O numbering.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rsp/target.h"

namespace hlrr::rsp {

// gdb's File-I/O errno values (gdbsupport/fileio.h), not the host's.
enum class FileioErrno : uint16_t {
  kNoEnt = 2,
  kBadF = 9,
  kAcces = 13,
  kInval = 22,
  kMFile = 24,
};

class HostIo {
 public:
  // `pid` names the guest in /proc paths; `max_data` bounds the bytes of one pread reply.
  HostIo(Target& target, uint64_t pid, uint64_t max_data);

  // Handles "OP:ARGS" (the packet without "vFile:"); false for an operation we do not
  // implement (the empty reply). Malformed arguments get EINVAL, never a protocol error.
  // `proc_files`: serve /proc/PID/... (the client knows our pid: multiprocess). With nothing to
  // serve every vFile packet is unsupported, so gdb treats the target's filesystem as its own.
  bool handle(std::string_view args, bool proc_files, std::string& reply);

  // The /proc/PID/maps (or, with `smaps`, /proc/PID/smaps) text of these regions: readable ones
  // only, private, anonymous (inode 0), named "[name]".
  static std::string proc_maps(std::span<const MemoryRegion> regions, bool smaps);

 private:
  struct File {
    bool exec = false;  // the executable: target_.exec_file_bytes()
    std::string text;   // otherwise: a synthesized file
  };
  std::span<const uint8_t> data(const File& file) const;
  bool offered(bool proc_files) const;
  void open(std::string_view args, bool proc_files, std::string& reply);
  void pread(std::string_view args, std::string& reply);
  void fstat(std::string_view args, std::string& reply);
  void close(std::string_view args, std::string& reply);
  const File* find(std::string_view fd_hex) const;

  Target& target_;
  uint64_t pid_;
  uint64_t max_data_;
  std::map<uint64_t, File> files_;  // by fd
};

}  // namespace hlrr::rsp
