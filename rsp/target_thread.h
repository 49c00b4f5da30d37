// TargetThread: the one long-lived thread that runs a target's resumes (continue, step, reverse
// execution), as Firecracker's vCPU thread: the server sends it messages, it sends each stop
// back. No thread per resume, so a vCPU is always run from the same thread.
//
//   I/O thread (event loop)                    TargetThread
//     run{job, stop token, done}  ───────────▶  job(token)  (Target::resume ...)
//     0x03 / disconnect: token.request_stop() ─▶ the target stops soon (rsp/target.h)
//     done(StopInfo) posted back  ◀───────────  StopInfo
//
// One job at a time: the session sends the next only after the previous one's stop.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "rsp/dispatcher.h"
#include "rsp/target.h"

namespace hlrr::rsp {

class TargetThread {
 public:
  // Called on the target thread with the job's stop; typically posts it to the event loop.
  using Done = std::function<void(const StopInfo&)>;

  TargetThread();
  // Waits for a running job (interrupt it first), then ends the thread.
  ~TargetThread();
  TargetThread(const TargetThread&) = delete;
  TargetThread& operator=(const TargetThread&) = delete;

  // Runs `job` with `stop` on the target thread, then `done` with its result. Never blocks.
  // A job must not be running (HLRR_CHECK).
  void run(ResumeJob job, std::stop_token stop, Done done);

  // Whether a job is running (sent and not yet done).
  bool busy();

 private:
  struct Message {
    ResumeJob job;
    std::stop_token stop;
    Done done;
  };
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<Message> next_;
  bool busy_ = false;
  bool quit_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace hlrr::rsp
