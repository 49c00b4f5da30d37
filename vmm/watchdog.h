// Watchdog: stops a guest call that runs past its deadline, from a thread of its own.
//
// Arming is cheap (no thread wake-up in the common case), because a guest call that makes
// thousands of host calls arms it once per guest call: the thread sleeps until the earliest
// deadline it knows and re-checks. Once a deadline passes while armed, it calls `expire` once:
// a vCPU stop request is never lost (vmm/stop_request.h), so it needs no repeating. `expire`
// runs under the watchdog's lock (it must not block): after disarm(), it is not running.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace hlrr::vmm {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Watchdog(std::function<void()> expire);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(Clock::time_point deadline);
  // Arms for `limit` from now. No overflow: a limit past the clock's end (~292 years of
  // nanoseconds) is a deadline at the end, that is, never.
  void arm_for(std::chrono::milliseconds limit);
  // Returns whether the deadline passed (and `expire` was called) while armed.
  bool disarm();
  // Whether the deadline of the current arming has passed (and `expire` was called).
  bool fired();

 private:
  void loop();

  std::function<void()> expire_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool armed_ = false;
  bool fired_ = false;
  bool sleeping_forever_ = true;
  bool quit_ = false;
  Clock::time_point deadline_{};
  std::thread thread_;
};

}  // namespace hlrr::vmm
