#include "vmm/watchdog.h"

namespace hlrr::vmm {

Watchdog::Watchdog(std::function<void()> expire)
    : expire_(std::move(expire)), thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Watchdog::arm(Clock::time_point deadline) {
  bool notify;
  {
    std::lock_guard lock(mutex_);
    armed_ = true;
    fired_ = false;
    deadline_ = deadline;
    // A thread sleeping until an earlier deadline wakes, sees the new one and sleeps on.
    notify = sleeping_forever_;
  }
  if (notify) wake_.notify_one();
}

void Watchdog::arm_for(std::chrono::milliseconds limit) {
  const Clock::time_point now = Clock::now();
  const auto room =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  arm(limit < room ? now + limit : Clock::time_point::max());
}

bool Watchdog::disarm() {
  std::lock_guard lock(mutex_);
  armed_ = false;
  return fired_;
}

bool Watchdog::fired() {
  std::lock_guard lock(mutex_);
  return armed_ && fired_;
}

void Watchdog::loop() {
  std::unique_lock lock(mutex_);
  while (!quit_) {
    if (!armed_ || fired_) {  // nothing to watch until armed (again)
      sleeping_forever_ = true;
      wake_.wait(lock);
      sleeping_forever_ = false;
      continue;
    }
    if (Clock::now() < deadline_) {
      wake_.wait_until(lock, deadline_);
      continue;
    }
    fired_ = true;
    // Under the lock: once disarm() returns, no expiry of that arming can still land.
    expire_();
  }
}

}  // namespace hlrr::vmm
