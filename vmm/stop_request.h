// StopRequest: a request that a vCPU stop, carrying why (its cause) and for which run (its
// generation), so that the exit ending the run says why it ended and a request meant for an
// earlier run is harmless.
//
// The whole state is one atomic word: generation << 8 | cause. The thread driving the vCPU
// starts a generation for each run it wants to be stoppable as one (Sandbox: each resume()); any
// thread may then request a stop of that generation, once: the first cause wins, a request of
// another generation is ignored. The backend takes the pending cause when it stops for it.
#pragma once

#include <atomic>
#include <cstdint>

namespace hlrr::vmm {

enum class StopCause : uint8_t {
  kNone = 0,
  kInterrupt,  // a debugger's interrupt (gdb's ctrl-C, a disconnect, the server stopping)
  kTimeout,    // the guest call's deadline passed (Watchdog)
};

const char* to_string(StopCause cause);

class StopRequest {
 public:
  // Starts a new generation with no stop pending; returns it. The driving thread only.
  uint64_t begin_generation();
  uint64_t generation() const { return word_.load() >> kCauseBits; }

  // Asks the run of `generation` to stop with `cause`. True if this request is now the pending
  // one; false if the generation is not the current one or a stop is already pending.
  // Thread-safe, lock-free, never blocks.
  bool request(StopCause cause, uint64_t generation);

  // The pending cause (kNone: none); the backend's polling check.
  StopCause pending() const { return static_cast<StopCause>(word_.load() & kCauseMask); }
  // Takes the pending cause (kNone: none pending): the run stops for it, and later runs of the
  // same generation go on.
  StopCause take();

 private:
  static constexpr int kCauseBits = 8;
  static constexpr uint64_t kCauseMask = (1u << kCauseBits) - 1;
  std::atomic<uint64_t> word_{0};
};

}  // namespace hlrr::vmm
