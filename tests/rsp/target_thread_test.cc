// One long-lived thread drives a target (rsp/target_thread.h), for every client of the server:
// every call, resumes and register, memory and breakpoint access alike; never a thread per
// resume, never the event loop's thread.
#include "rsp/target_thread.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "rsp/server.h"
#include "tests/rsp/fake_target.h"
#include "tests/rsp/tcp_client.h"

namespace hlrr::rsp {
namespace {

using testing::FakeTarget;
using testing::TcpClient;

TEST(TargetThread, RunsEachJobOnTheSameThreadThenItsDone) {
  TargetThread thread;
  std::vector<std::thread::id> ran;
  for (int i = 0; i < 3; ++i) {
    std::promise<size_t> done;
    std::stop_source source;
    thread.run([&](std::stop_token) { ran.push_back(std::this_thread::get_id()); },
               source.get_token(), [&] { done.set_value(ran.size()); });
    EXPECT_EQ(done.get_future().get(), static_cast<size_t>(i + 1));
  }
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_NE(ran[0], std::this_thread::get_id());
  EXPECT_EQ(ran[1], ran[0]);
  EXPECT_EQ(ran[2], ran[0]);
}

TEST(TargetThread, CallRunsOnTheThreadOfTheJobsAndWaitsForIt) {
  TargetThread thread;
  std::thread::id job_thread;
  std::promise<void> done;
  thread.run([&](std::stop_token) { job_thread = std::this_thread::get_id(); }, {},
             [&] { done.set_value(); });
  done.get_future().get();
  std::thread::id called_on;
  int value = 0;
  thread.call([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // call() waits for it
    called_on = std::this_thread::get_id();
    value = 42;
  });
  EXPECT_EQ(value, 42);
  EXPECT_EQ(called_on, job_thread);
  EXPECT_NE(called_on, std::this_thread::get_id());
  thread.wait_idle();
  EXPECT_FALSE(thread.busy());
}

TEST(TargetThread, AStopRequestReachesTheRunningJob) {
  TargetThread thread;
  std::stop_source source;
  std::promise<bool> done;
  bool stopped = false;
  thread.run(
      [&](std::stop_token stop) {
        while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        stopped = true;
      },
      source.get_token(), [&] { done.set_value(stopped); });
  EXPECT_TRUE(thread.busy());
  source.request_stop();
  EXPECT_TRUE(done.get_future().get());
}

// FakeTarget that remembers which threads called it: by kernel thread id, as a joined
// std::thread's id (its pthread_t) is reused by the next one.
class ThreadRecordingTarget : public FakeTarget {
 public:
  StopInfo resume(ResumeAction action, std::stop_token stop) override {
    called();
    {
      std::lock_guard lock(mutex_);
      ++resumes_;
    }
    return FakeTarget::resume(action, std::move(stop));
  }
  base::Status read_registers(RegisterFile& out) override {
    called();
    return FakeTarget::read_registers(out);
  }
  base::Status read_memory(uint64_t address, std::span<uint8_t> out) override {
    called();
    return FakeTarget::read_memory(address, out);
  }
  base::Status insert_breakpoint(BreakpointKind kind, uint64_t address, uint64_t length) override {
    called();
    return FakeTarget::insert_breakpoint(kind, address, length);
  }
  void called() {
    std::lock_guard lock(mutex_);
    threads_.insert(::gettid());
  }
  std::set<pid_t> threads() {
    std::lock_guard lock(mutex_);
    return threads_;
  }
  int resumes() {
    std::lock_guard lock(mutex_);
    return resumes_;
  }

 private:
  std::mutex mutex_;
  std::set<pid_t> threads_;
  int resumes_ = 0;
};

TEST(ServerTargetThread, EveryCallOfEveryClientRunsOnOneThreadAndInterruptsStop) {
  ThreadRecordingTarget target;
  target.exit_at.reset();
  target.step_delay = std::chrono::microseconds(100);
  auto server = Server::create(target, {});
  ASSERT_TRUE(server.has_value()) << server.error().message;
  pid_t loop_thread = 0;
  auto result = std::async(std::launch::async, [&] {
    loop_thread = ::gettid();
    return (*server)->run();
  });
  for (int client_number = 0; client_number < 2; ++client_number) {
    TcpClient client((*server)->port());
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(client.send("$s#73"));
      EXPECT_EQ(client.read_packet().substr(0, 4), "+$T0");
    }
    // Registers, memory and a breakpoint: on the same thread as the resumes.
    ASSERT_TRUE(client.send("$g#67"));
    EXPECT_EQ(client.read_packet().size(), 2 + 2 * kWireRegisterFileSize + 3);  // +$HEX#cs
    ASSERT_TRUE(client.send("$m1000,4#8e"));
    EXPECT_EQ(client.read_packet().substr(0, 2), "+$");
    ASSERT_TRUE(client.send("$Z0,2000,1#d5"));
    EXPECT_EQ(client.read_packet(), "+$OK#9a");
    // A continue that only 0x03 ends: the stop reply is SIGINT.
    ASSERT_TRUE(client.send("$c#63"));
    EXPECT_EQ(client.read(1), "+");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(client.send("\x03"));
    EXPECT_EQ(client.read_packet().substr(0, 4), "$T02");
    client.close();
  }
  (*server)->stop();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(target.resumes(), 8);
  const std::set<pid_t> threads = target.threads();
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_FALSE(threads.contains(loop_thread));
}

}  // namespace
}  // namespace hlrr::rsp
