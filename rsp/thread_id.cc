#include "rsp/thread_id.h"

#include "rsp/hex.h"

namespace hlrr::rsp {
namespace {

// "-1" (all), "0" (any) or the hex number `ours`.
bool matches(std::string_view id, uint64_t ours) {
  return id == "-1" || id == "0" || parse_hex_u64(id) == ours;
}

}  // namespace

std::string our_thread_id(bool multiprocess) {
  std::string id;
  if (multiprocess) {
    id.push_back('p');
    append_hex_u64(id, kGuestPid);
    id.push_back('.');
  }
  append_hex_u64(id, kGuestTid);
  return id;
}

bool names_our_thread(std::string_view id) {
  if (!id.starts_with('p')) return matches(id, kGuestTid);
  // "pP" alone is every thread of process P.
  auto parts = split_once(id.substr(1), '.');
  if (!parts) return matches(id.substr(1), kGuestPid);
  return matches(parts->first, kGuestPid) && matches(parts->second, kGuestTid);
}

bool names_our_process(std::string_view pid) {
  return matches(pid, kGuestPid);
}

}  // namespace hlrr::rsp
