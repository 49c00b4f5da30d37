// Session: one client connection's protocol state, owning the wire (rr's GdbServerConnection):
// acks and retransmission, no-ack mode, the 0x03 interrupt, the running/stopped state, and
// feeding complete packets to the Dispatcher. Transport-agnostic: bytes in through receive(),
// bytes out through the Output callback, so tests and the fuzzer drive it in memory.
//
// Threading: all methods are called on one thread (the server's I/O thread). A resume runs
// through the Launcher (the server's target thread); the launcher calls resume_done() back
// on the session's thread. Without a launcher, resumes run inline (tests, fuzzing).
#pragma once

#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "rsp/dispatcher.h"
#include "rsp/packet_codec.h"
#include "rsp/target.h"

namespace hlrr::rsp {

class Session {
 public:
  using Output = std::function<void(std::string_view bytes)>;
  // Starts `job` (e.g. on the target thread); must later call resume_done() on this thread.
  using Launcher = std::function<void(ResumeJob job, std::stop_token stop)>;
  using Log = std::function<void(std::string_view message)>;

  Session(Target& target, Output output, Launcher launcher = {}, Log log = {});
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Feeds bytes received from the client.
  void receive(std::string_view bytes);

  // The running resume finished with `stop`: sends the stop reply.
  void resume_done(const StopInfo& stop);

  // Interrupts a running resume, as a 0x03 from the client does (disconnect, server stop).
  void interrupt();

  bool running() const { return running_; }
  // True once the session is over: the target was killed, detached, exited or terminated.
  bool ended() const { return ended_; }
  // True when the target itself is gone (killed, exited, terminated), not merely detached.
  bool target_finished() const { return target_finished_; }
  bool acks_enabled() const { return acks_; }

 private:
  void on_packet(std::string_view payload);
  void send_packet(std::string_view payload);
  void send_console(std::string_view text);
  void send_error(Errc code);
  void log(std::string_view message);

  Dispatcher dispatcher_;
  PacketDecoder decoder_;
  Output output_;
  Launcher launcher_;
  Log log_;
  std::stop_source stop_source_;
  std::string reply_;        // reused for every reply: no allocation per packet once warm
  std::string console_;      // qRcmd output sent as `O` packets
  std::string framed_;       // the framed packet being sent
  std::string last_packet_;  // last framed packet, resent on `-` while acks are on
  bool acks_ = true;
  bool running_ = false;
  bool ended_ = false;
  bool target_finished_ = false;
};

}  // namespace hlrr::rsp
