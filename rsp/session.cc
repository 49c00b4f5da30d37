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

std::size_t Session::receive(std::string_view bytes) {
  using Event = PacketDecoder::Event;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (ended_) return bytes.size();
    // Full: the rest waits in the socket until a packet is done.
    if (waiting_.size() >= kMaxWaitingPackets) return i;
    switch (decoder_.next(bytes[i])) {
      case Event::kNone:
        break;
      case Event::kPacket:
        if (busy_) {
          // Acked when its turn comes, so that each ack stays just before its reply.
          waiting_.emplace_back(decoder_.payload());
          break;
        }
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
        if (!busy_) send_error(Errc::kTooBig);
        break;
      case Event::kMalformed:
        log("malformed escape or run-length sequence");
        if (acks_) output_("+");
        if (!busy_) send_error(Errc::kInvalid);
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
  return bytes.size();
}

void Session::interrupt() {
  if (busy_) stop_source_.request_stop();
}

void Session::on_packet(std::string_view payload) {
  busy_ = true;
  stop_source_ = std::stop_source();
  packet_.assign(payload);
  if (!launcher_) {
    work(packet_, stop_source_.get_token());
    packet_done();
    return;
  }
  launcher_([this](std::stop_token stop) { work(packet_, std::move(stop)); },
            stop_source_.get_token());
}

void Session::work(std::string_view payload, std::stop_token stop) {
  console_.clear();
  stop_.reset();
  outcome_ = dispatcher_.handle(payload, reply_, console_);
  error_ = dispatcher_.last_error();
  if (outcome_.kind != Dispatcher::Outcome::Kind::kResume) return;
  stop_ = std::move(outcome_.job)(std::move(stop));
  outcome_.job = nullptr;
  dispatcher_.stop_reply(*stop_, reply_);
}

void Session::packet_done() {
  busy_ = false;
  if (!error_.empty()) log(error_);
  if (!console_.empty()) send_console(console_);
  if (stop_) {
    // While the target runs, the client prints `O` packets; after the stop reply it would not.
    if (!stop_->message.empty()) send_console(stop_->message);
    send_packet(reply_);
    if (stop_->is_final()) {
      ended_ = true;
      target_finished_ = true;
    }
  } else {
    send_packet(reply_);
    if (outcome_.disable_acks) acks_ = false;
    if (outcome_.end_session) {
      ended_ = true;
      target_finished_ = packet_ != "D" && !packet_.starts_with("D;");
    }
  }
  handle_waiting();
}

void Session::handle_waiting() {
  while (!busy_ && !ended_ && !waiting_.empty()) {
    std::string next = std::move(waiting_.front());
    waiting_.pop_front();
    if (acks_) output_("+");
    on_packet(next);
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
