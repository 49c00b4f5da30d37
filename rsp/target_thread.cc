#include "rsp/target_thread.h"

#include <utility>

#include "base/check.h"

namespace hlrr::rsp {

TargetThread::TargetThread() : thread_([this] { loop(); }) {}

TargetThread::~TargetThread() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void TargetThread::run(Work work, std::stop_token stop, Done done) {
  {
    std::lock_guard lock(mutex_);
    HLRR_CHECK(!busy_);
    busy_ = true;
    next_.emplace(Message{std::move(work), std::move(stop), std::move(done)});
  }
  wake_.notify_one();
}

bool TargetThread::busy() {
  std::lock_guard lock(mutex_);
  return busy_;
}

void TargetThread::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return quit_ || next_.has_value(); });
    if (!next_) return;  // quit, nothing left to run
    Message message = std::move(*next_);
    next_.reset();
    lock.unlock();
    message.work(std::move(message.stop));
    lock.lock();
    busy_ = false;
    lock.unlock();
    message.done();  // unlocked: it may post the next job at once
    lock.lock();
  }
}

}  // namespace hlrr::rsp
