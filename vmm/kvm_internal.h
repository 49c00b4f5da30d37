// Helpers shared by the KvmVcpu sources (kvm_vcpu*.cc): ioctls, messages, segments, constants.
// Not part of the vmm interface.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "hl_abi.h"
#include "vmm/long_mode.h"

namespace hlrr::vmm::kvm {

inline constexpr uint64_t kRflagsTrap = 1ull << 8;     // TF
inline constexpr uint64_t kRflagsResume = 1ull << 16;  // RF
inline constexpr uint8_t kHltOpcode = 0xF4;
inline constexpr uint64_t kStubsEnd = HL_EXCEPTION_STUBS_BASE + 32 * HL_EXCEPTION_STUB_SIZE;

inline std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

inline std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

inline int retry_ioctl(int fd, unsigned long request, unsigned long arg) {
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

template <class T>
inline int retry_ioctl(int fd, unsigned long request, T* arg) {
  return retry_ioctl(fd, request, reinterpret_cast<unsigned long>(arg));
}

inline kvm_segment code_segment() {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xFFFFFFFF;
  s.selector = kCodeSelector;
  s.type = 11;  // execute/read, accessed
  s.present = 1;
  s.s = 1;
  s.l = 1;
  s.g = 1;
  return s;
}

inline kvm_segment data_segment(uint16_t selector) {
  kvm_segment s{};
  if (selector == 0) {
    s.unusable = 1;
    return s;
  }
  s.limit = 0xFFFFFFFF;
  s.selector = selector;
  s.type = 3;  // read/write, accessed
  s.present = 1;
  s.s = 1;
  s.db = 1;
  s.g = 1;
  return s;
}

// Installs the handler of the signal kick() interrupts KVM_RUN with (once per process).
void install_kick_handler();

}  // namespace hlrr::vmm::kvm
