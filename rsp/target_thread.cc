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

void TargetThread::call(const std::function<void()>& work) {
  HLRR_CHECK(std::this_thread::get_id() != thread_.get_id());  // it would wait for itself
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  run([&work](std::stop_token) { work(); }, {},
      [&] {
        // Notified under the lock: the caller cannot return (and free these) before it is out.
        std::lock_guard lock(mutex);
        done = true;
        finished.notify_one();
      });
  std::unique_lock lock(mutex);
  finished.wait(lock, [&] { return done; });
}

void TargetThread::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return !handling_ && !next_.has_value(); });
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
    handling_ = true;
    lock.unlock();
    message.work(std::move(message.stop));
    lock.lock();
    busy_ = false;
    lock.unlock();
    message.done();  // unlocked: it may post the next job at once
    message = {};    // what it holds goes before a waiter of wait_idle() may free it
    lock.lock();
    handling_ = false;
    idle_.notify_all();
  }
}

}  // namespace hlrr::rsp
