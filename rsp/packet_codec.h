// The RSP wire format: `$payload#cs` framing, checksums, `}` escaping, `*` run-length decoding,
// acks and the out-of-band 0x03 interrupt byte. No I/O and no Asio: bytes in, events out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hlrr::rsp {

// Largest packet payload we accept (after unescaping) and advertise as PacketSize.
inline constexpr std::size_t kMaxPacketSize = 0x4000;

// Modulo-256 sum of the bytes, the `#cs` checksum.
uint8_t checksum(std::string_view bytes);

// Appends `$payload#cs` to `out`, escaping `$ # } *` as `}` + (byte ^ 0x20). The checksum covers
// the escaped bytes, as on the wire.
void append_packet(std::string& out, std::string_view payload);

// Incremental decoder of the client's byte stream: a small state machine with a fixed buffer,
// no allocation per packet. Feed bytes with next(); it reports one event per call that
// completes something.
//
// Outside a packet, `+`/`-` are acks, 0x03 is an interrupt and every other byte is ignored
// (garbage). Inside a packet 0x03 is ordinary data (binary X writes may contain it); a `$`
// inside a packet restarts it (the previous one was truncated).
class PacketDecoder {
 public:
  enum class Event : uint8_t {
    kNone,         // byte consumed, nothing complete yet
    kPacket,       // payload() holds a complete, checksum-valid packet
    kBadChecksum,  // a complete packet whose checksum was wrong (reply `-`)
    kOversize,     // a complete packet longer than kMaxPacketSize (reply `+` and an error)
    kMalformed,    // a complete packet with a bad run-length or escape sequence
    kAck,          // `+`
    kNack,         // `-`
    kInterrupt,    // 0x03 outside a packet
  };

  PacketDecoder();

  Event next(char byte);

  // The last packet's payload (unescaped, run-length expanded); valid until the next next().
  std::string_view payload() const { return {buffer_.data(), size_}; }

  // True while in the middle of a packet.
  bool in_packet() const { return state_ != State::kIdle; }

 private:
  enum class State : uint8_t { kIdle, kData, kEscape, kRunLength, kChecksumHi, kChecksumLo };
  void put(char c);

  std::vector<char> buffer_;  // fixed capacity kMaxPacketSize
  std::size_t size_ = 0;
  State state_ = State::kIdle;
  uint8_t sum_ = 0;       // running checksum of the raw bytes
  uint8_t received_ = 0;  // checksum digits received
  bool overflow_ = false;
  bool malformed_ = false;
};

}  // namespace hlrr::rsp
