#include "rsp/session.h"

#include <utility>

#include "rsp/hex.h"

namespace hlrr::rsp {

Session::Session(Target& target, Output output, Launcher launcher, Log log)
    : dispatcher_(target),
      output_(std::move(output)),
      launcher_(std::move(launcher)),
      log_(std::move(log)) {}

void Session::log(std::string_view message) {
  if (log_) log_(message);
}

void Session::receive(std::string_view bytes) {
  using Event = PacketDecoder::Event;
  for (char byte : bytes) {
    if (ended_) return;
    switch (decoder_.next(byte)) {
      case Event::kNone:
        break;
      case Event::kPacket:
        if (acks_) output_("+");
        on_packet(decoder_.payload());
        break;
      case Event::kBadChecksum:
        log("bad checksum: asking for a resend");
        if (acks_) output_("-");
        break;
      case Event::kOversize:
        log("oversize packet refused");
        if (acks_) output_("+");
        if (!running_) send_error(Errc::kTooBig);
        break;
      case Event::kMalformed:
        log("malformed escape or run-length sequence");
        if (acks_) output_("+");
        if (!running_) send_error(Errc::kInvalid);
        break;
      case Event::kAck:
        last_packet_.clear();
        break;
      case Event::kNack:
        if (acks_ && !last_packet_.empty()) output_(last_packet_);
        break;
      case Event::kInterrupt:
        interrupt();  // ignored while stopped
        break;
    }
  }
}

void Session::interrupt() {
  if (running_) stop_source_.request_stop();
}

void Session::on_packet(std::string_view payload) {
  if (running_) {
    // All-stop: clients only send 0x03 while the target runs.
    log("packet received while the target runs: ignored");
    return;
  }
  Dispatcher::Outcome outcome = dispatcher_.handle(payload, reply_, console_);
  if (!dispatcher_.last_error().empty()) log(dispatcher_.last_error());
  if (!console_.empty()) {
    send_console(console_);
    console_.clear();
  }
  switch (outcome.kind) {
    case Dispatcher::Outcome::Kind::kReply:
      send_packet(reply_);
      break;
    case Dispatcher::Outcome::Kind::kResume:
      running_ = true;
      stop_source_ = std::stop_source();
      if (launcher_) {
        launcher_(std::move(outcome.job), stop_source_.get_token());
      } else {
        resume_done(outcome.job(stop_source_.get_token()));
      }
      return;
  }
  if (outcome.disable_acks) acks_ = false;
  if (outcome.end_session) {
    ended_ = true;
    target_finished_ = payload != "D" && !payload.starts_with("D;");
  }
}

void Session::resume_done(const StopInfo& stop) {
  running_ = false;
  // While the target runs, the client prints `O` packets; after the stop reply it would not.
  if (!stop.message.empty()) send_console(stop.message);
  dispatcher_.stop_reply(stop, reply_);
  send_packet(reply_);
  if (stop.is_final()) {
    ended_ = true;
    target_finished_ = true;
  }
}

void Session::send_console(std::string_view text) {
  // Console output in `O` packets, chunked to stay within PacketSize.
  constexpr std::size_t kChunk = kMaxPacketSize / 4;
  std::string packet;
  for (std::size_t at = 0; at < text.size(); at += kChunk) {
    packet.clear();
    packet.push_back('O');
    append_hex_bytes(packet, text.substr(at, kChunk));
    send_packet(packet);
  }
}

void Session::send_error(Errc code) {
  Dispatcher::error_reply(code, reply_);
  send_packet(reply_);
}

void Session::send_packet(std::string_view payload) {
  framed_.clear();
  append_packet(framed_, payload);
  if (acks_) last_packet_ = framed_;
  output_(framed_);
}

}  // namespace hlrr::rsp
