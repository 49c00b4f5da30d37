// Session: one client connection's protocol state, owning the wire (rr's GdbServerConnection):
// acks and retransmission, no-ack mode, the 0x03 interrupt, the running/stopped state, and
// feeding complete packets to the Dispatcher. Transport-agnostic: bytes in through receive(),
// bytes out through the Output callback, so tests and the fuzzer drive it in memory.
//
// Threading: all methods are called on one thread (the server's I/O thread). Each packet is
// handled through the Launcher, on the server's target thread (every Target call, resumes
// included, happens there: rsp/target_thread.h); the launcher calls packet_done() back on the
// session's thread, which sends the reply. Packets that arrive meanwhile wait their turn (a
// 0x03 interrupts the work). Without a launcher, packets are handled inline (tests, fuzzing).
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "rsp/dispatcher.h"
#include "rsp/packet_codec.h"
#include "rsp/target.h"

namespace hlrr::rsp {

class Session {
 public:
  // Packets a client may send ahead while one is handled (gdb, all-stop, sends none).
  static constexpr std::size_t kMaxWaitingPackets = 64;

  using Output = std::function<void(std::string_view bytes)>;
  using Work = std::function<void(std::stop_token)>;
  // Starts `work` (on the target thread); must later call packet_done() on this thread.
  using Launcher = std::function<void(Work work, std::stop_token stop)>;
  using Log = std::function<void(std::string_view message)>;

  Session(Target& target, Output output, Launcher launcher = {}, Log log = {});
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Feeds bytes received from the client; returns how many it took. It takes them all unless
  // kMaxWaitingPackets packets wait behind a busy one: feed the rest after packet_done().
  std::size_t receive(std::string_view bytes);

  // The launched packet's work finished: sends its reply, then handles any packet that waited.
  void packet_done();

  // Interrupts a running resume, as a 0x03 from the client does (disconnect, server stop).
  void interrupt();

  // True while a packet's work (e.g. a resume) is under way on the target thread.
  bool running() const { return busy_; }
  // True once the session is over: the target was killed, detached, exited or terminated.
  bool ended() const { return ended_; }
  // True when the target itself is gone (killed, exited, terminated), not merely detached.
  bool target_finished() const { return target_finished_; }
  bool acks_enabled() const { return acks_; }

 private:
  void on_packet(std::string_view payload);
  // Handles `payload` whole (a resume runs to its stop): on the target thread when launched.
  void work(std::string_view payload, std::stop_token stop);
  void handle_waiting();
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
  // The packet being handled and what its work produced, for packet_done(); written on the
  // target thread only while busy_ (the launcher's hand-over orders the accesses).
  std::string packet_;
  Dispatcher::Outcome outcome_;
  std::string error_;
  std::optional<StopInfo> stop_;
  std::deque<std::string> waiting_;  // packets received while busy_
  std::string reply_;                // reused for every reply: no allocation per packet once warm
  std::string console_;              // qRcmd output sent as `O` packets
  std::string framed_;               // the framed packet being sent
  std::string last_packet_;          // last framed packet, resent on `-` while acks are on
  bool acks_ = true;
  bool busy_ = false;
  bool ended_ = false;
  bool target_finished_ = false;
};

}  // namespace hlrr::rsp
