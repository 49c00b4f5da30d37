#include "rsp/packet_codec.h"

#include "rsp/hex.h"

namespace hlrr::rsp {

uint8_t checksum(std::string_view bytes) {
  uint8_t sum = 0;
  for (char c : bytes) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  return sum;
}

void append_packet(std::string& out, std::string_view payload) {
  out.push_back('$');
  uint8_t sum = 0;
  auto raw = [&](char c) {
    out.push_back(c);
    sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  };
  for (char c : payload) {
    if (c == '$' || c == '#' || c == '}' || c == '*') {
      raw('}');
      raw(static_cast<char>(c ^ 0x20));
    } else {
      raw(c);
    }
  }
  out.push_back('#');
  append_hex_u8(out, sum);
}

namespace {
// Bytes that end a packet cut off in its checksum and mean something of their own: a new
// packet, or an interrupt (which must not be lost as a "bad checksum digit").
bool resynchronises(char byte) {
  return byte == '$' || byte == '\x03';
}
}  // namespace

PacketDecoder::PacketDecoder() : buffer_(kMaxPacketSize) {}

void PacketDecoder::put(char c) {
  if (size_ < buffer_.size()) {
    buffer_[size_++] = c;
  } else {
    overflow_ = true;
  }
}

PacketDecoder::Event PacketDecoder::next(char byte) {
  const auto add_sum = [&] { sum_ = static_cast<uint8_t>(sum_ + static_cast<uint8_t>(byte)); };
  switch (state_) {
    case State::kIdle:
      switch (byte) {
        case '$':
          state_ = State::kData;
          size_ = 0;
          sum_ = 0;
          overflow_ = false;
          malformed_ = false;
          return Event::kNone;
        case '+':
          return Event::kAck;
        case '-':
          return Event::kNack;
        case '\x03':
          return Event::kInterrupt;
        default:
          return Event::kNone;  // garbage between packets
      }
    case State::kData:
      if (byte == '$') {  // the previous packet was truncated: start over
        state_ = State::kIdle;
        return next(byte);
      }
      if (byte == '#') {
        state_ = State::kChecksumHi;
        return Event::kNone;
      }
      add_sum();
      if (byte == '}') {
        state_ = State::kEscape;
      } else if (byte == '*') {
        state_ = State::kRunLength;
      } else {
        put(byte);
      }
      return Event::kNone;
    case State::kEscape:
      if (byte == '$' || byte == '#') {  // an escape cut short: treat as framing
        malformed_ = true;
        state_ = State::kData;
        return next(byte);
      }
      add_sum();
      put(static_cast<char>(byte ^ 0x20));
      state_ = State::kData;
      return Event::kNone;
    case State::kRunLength: {
      if (byte == '$' || byte == '#') {
        malformed_ = true;
        state_ = State::kData;
        return next(byte);
      }
      add_sum();
      state_ = State::kData;
      // `X*n`: X repeated (n - 29) more times; n is printable, so at most 97 repeats.
      int repeat = static_cast<uint8_t>(byte) - 29;
      if (size_ == 0 || repeat < 0 || repeat > 97) {
        malformed_ = true;
        return Event::kNone;
      }
      char last = overflow_ ? '\0' : buffer_[size_ - 1];
      for (int i = 0; i < repeat; ++i) put(last);
      return Event::kNone;
    }
    case State::kChecksumHi: {
      int d = hex_digit_value(byte);
      if (d < 0) {
        // Not a checksum: a broken packet. Resynchronise on this byte.
        state_ = State::kIdle;
        return resynchronises(byte) ? next(byte) : Event::kBadChecksum;
      }
      received_ = static_cast<uint8_t>(d << 4);
      state_ = State::kChecksumLo;
      return Event::kNone;
    }
    case State::kChecksumLo: {
      state_ = State::kIdle;
      int d = hex_digit_value(byte);
      if (d < 0) return resynchronises(byte) ? next(byte) : Event::kBadChecksum;
      received_ = static_cast<uint8_t>(received_ | d);
      if (received_ != sum_) return Event::kBadChecksum;
      if (overflow_) return Event::kOversize;
      if (malformed_) return Event::kMalformed;
      return Event::kPacket;
    }
  }
  return Event::kNone;
}

}  // namespace hlrr::rsp
