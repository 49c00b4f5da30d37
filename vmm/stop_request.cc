#include "vmm/stop_request.h"

namespace hlrr::vmm {

const char* to_string(StopCause cause) {
  switch (cause) {
    case StopCause::kNone:
      return "none";
    case StopCause::kInterrupt:
      return "interrupt";
    case StopCause::kTimeout:
      return "timeout";
  }
  return "?";
}

uint64_t StopRequest::begin_generation() {
  const uint64_t next = generation() + 1;
  word_.store(next << kCauseBits);
  return next;
}

bool StopRequest::request(StopCause cause, uint64_t generation) {
  const uint64_t wanted = generation << kCauseBits;  // that generation, nothing pending
  uint64_t expected = wanted;
  return word_.compare_exchange_strong(expected, wanted | static_cast<uint64_t>(cause));
}

StopCause StopRequest::take() {
  uint64_t word = word_.load();
  while ((word & kCauseMask) != 0) {
    if (word_.compare_exchange_weak(word, word & ~kCauseMask)) {
      return static_cast<StopCause>(word & kCauseMask);
    }
  }
  return StopCause::kNone;
}

}  // namespace hlrr::vmm
