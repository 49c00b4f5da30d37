// The GDB remote debug server: a Boost.Asio TCP server (Asio stays inside server.cc) that serves
// one client at a time against a Target.
//
// * Listens on loopback only by default (a debug port is full control of the guest), of both
//   families on one port: 127.0.0.1 and ::1, as "localhost" may resolve to either first (an
//   installed Debian or Ubuntu maps it to ::1 too). Where the machine has no IPv6, 127.0.0.1
//   alone. Port 0 picks an ephemeral port (free on both), reported by port().
// * A second simultaneous client is refused (`$E01#a6`, then closed) while the first keeps
//   working. A client that disconnects, even mid-packet or while the target runs (the resume
//   is interrupted), leaves the target stopped and the server accepting again.
// * One event loop (the thread that calls run()) waits on the sockets and on the stops of the
//   target thread (rsp/target_thread.h), the one long-lived thread that runs every resume, so
//   0x03 interrupts them (see the threading contract in rsp/target.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "rsp/target.h"

namespace hlrr::rsp {

class TargetThread;

struct ServerOptions {
  // "": 127.0.0.1 and ::1. Else one address only: an IPv4 or IPv6 literal, or "localhost"
  // (the address it resolves to first).
  std::string address;
  uint16_t port = 0;  // 0: ephemeral
  // Protocol diagnostics (bad checksums, refused packets, clients coming and going); may be empty.
  std::function<void(std::string_view)> log;
};

class Server {
 public:
  // Why run() returned.
  enum class End : uint8_t {
    kTargetFinished,  // the target exited, was killed, or the client detached
    kStopped,         // stop() was called
  };

  // Binds and listens; fails with a message if the address is bad or the port is taken.
  static base::Expected<std::unique_ptr<Server>> create(Target& target, ServerOptions options);
  // The same with `target` driven by `thread` instead of a thread of the server's own: the
  // target's owner keeps using the thread before and after the server (TargetThread::call()).
  // `thread` must outlive the server.
  static base::Expected<std::unique_ptr<Server>> create(Target& target, TargetThread& thread,
                                                        ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually listened on.
  uint16_t port() const;
  // What is listened on: "127.0.0.1:PORT", "[::1]:PORT".
  std::vector<std::string> endpoints() const;

  // Serves clients, one at a time, on the calling thread until the target has finished
  // (the session ended with k/vKill/D, an exit or a termination) or stop() is called.
  // Call once.
  base::Expected<End> run();

  // Makes run() return soon: interrupts a running resume and closes the connections. Safe from
  // any thread, also before run().
  void stop();

 private:
  class Impl;
  // `thread`: nullptr for one of the server's own.
  static base::Expected<std::unique_ptr<Server>> create_on(Target& target, TargetThread* thread,
                                                           ServerOptions options);
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hlrr::rsp
