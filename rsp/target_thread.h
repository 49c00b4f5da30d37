// TargetThread: the one long-lived thread that drives a target, as Firecracker's vCPU thread:
// the server sends it each packet to handle as a message, and it handles it whole (register and
// memory access, debug points, resumes: continue, step, reverse execution), then sends the
// outcome back. No thread per resume, and a target (its vCPU) is only ever used from this thread.
//
//   I/O thread (event loop)                    TargetThread
//     run{work, stop token, done}  ──────────▶  work(token)  (Dispatcher::handle, Target::resume)
//     0x03 / disconnect: token.request_stop() ─▶ the target stops soon (rsp/target.h)
//     done() posted back  ◀────────────────────  (the reply is in the session)
//
// One job at a time: the session sends the next only after the previous one's done. A server
// owns one, or is handed one by the target's owner (Server::create), who keeps using it before
// and after the server (call()): e.g. hlrun's run to the program's end after a detach.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

namespace hlrr::rsp {

class TargetThread {
 public:
  using Work = std::function<void(std::stop_token)>;
  // Called on the target thread after the work; typically posts to the event loop.
  using Done = std::function<void()>;

  TargetThread();
  // Waits for a running job (interrupt it first), then ends the thread.
  ~TargetThread();
  TargetThread(const TargetThread&) = delete;
  TargetThread& operator=(const TargetThread&) = delete;

  // Runs `work` with `stop` on the target thread, then `done`. Never blocks. No work may be
  // running (HLRR_CHECK).
  void run(Work work, std::stop_token stop, Done done);

  // Runs `work` on the target thread and waits for it. Not from the target thread itself, and
  // no other work may be running (HLRR_CHECKs).
  void call(const std::function<void()>& work);

  // Waits until no job is queued or running, its `done` included.
  void wait_idle();

  // Whether a job is running (sent and not yet done).
  bool busy();

 private:
  struct Message {
    Work work;
    std::stop_token stop;
    Done done;
  };
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::optional<Message> next_;
  bool busy_ = false;
  bool handling_ = false;  // a message is taken and its done() has not returned yet
  bool quit_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace hlrr::rsp
