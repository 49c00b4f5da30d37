// LiveSession: hlrun -g's debug session over one sandbox: a debug::LiveTarget served by an
// rsp::Server until the debugger ends the session, then, after a detach, the program's run to
// its end. One thread, the session's target thread (rsp/target_thread.h), drives the sandbox
// through all of it, as Firecracker's vCPU thread: KVM wants a vCPU's ioctls from one thread
// (vmm/kvm_vcpu.h), and nothing has to move the vCPU from thread to thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/expected.h"
#include "debug/live_target.h"
#include "rsp/server.h"
#include "rsp/target_thread.h"
#include "vmm/sandbox.h"
#include "vmm/value.h"

namespace hlrr::cli {

class LiveSession {
 public:
  // `sandbox` fresh from Sandbox::load(); it must outlive the session. Fails (one line) where
  // the server cannot listen as `options` ask.
  static base::Expected<std::unique_ptr<LiveSession>> create(vmm::Sandbox& sandbox,
                                                             std::string function,
                                                             std::vector<vmm::Value> args,
                                                             std::string guest_path,
                                                             rsp::ServerOptions options);
  LiveSession(const LiveSession&) = delete;
  LiveSession& operator=(const LiveSession&) = delete;

  debug::LiveTarget& target() { return target_; }
  const rsp::Server& server() const { return *server_; }

  // Serves debuggers until one ends the session (kill, detach, the program's end), then after a
  // detach runs the program to its end, on the target thread. Then target().result() says how
  // it ended (empty when killed). Call once.
  base::Status run();

 private:
  LiveSession(vmm::Sandbox& sandbox, std::string function, std::vector<vmm::Value> args,
              std::string guest_path);

  rsp::TargetThread thread_;  // first: it outlives the server and the target
  debug::LiveTarget target_;
  std::unique_ptr<rsp::Server> server_;
};

}  // namespace hlrr::cli
