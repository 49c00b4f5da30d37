// libFuzzer: arbitrary client bytes through the RSP codec, session and dispatcher against
// FakeTarget (resumes run inline and are bounded). Checks the decoder's invariants too.
// The first byte picks options; with bit 1 set the rest is a list of '\n'-separated payloads
// that the harness frames itself, so the fuzzer reaches the handlers without having to guess
// checksums.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "rsp/packet_codec.h"
#include "rsp/session.h"
#include "tests/rsp/fake_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hlrr::rsp;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // The decoder alone: payloads never exceed the buffer, and re-framing a decoded packet
  // decodes to the same payload.
  PacketDecoder decoder;
  for (char c : input) {
    if (decoder.next(c) != PacketDecoder::Event::kPacket) continue;
    std::string payload(decoder.payload());
    HLRR_CHECK(payload.size() <= kMaxPacketSize);
    std::string framed;
    append_packet(framed, payload);
    PacketDecoder again;
    PacketDecoder::Event last = PacketDecoder::Event::kNone;
    for (char f : framed) last = again.next(f);
    HLRR_CHECK(last == PacketDecoder::Event::kPacket && again.payload() == payload);
  }

  // The whole session, fed in uneven chunks.
  testing::FakeTarget target;
  target.max_continue_steps = 2000;
  target.reverse_enabled = size > 0 && (data[0] & 1) != 0;
  target.accesses[0x1004] = {0x4000, true};
  if (size > 0 && (data[0] & 4) != 0) {
    target.exec_path = "/g.elf";
    target.exec_bytes.assign(40, '}');
  }
  if (size > 0 && (data[0] & 8) != 0) {
    target.hardware_breakpoints = false;
    target.monitor_enabled = false;
  }
  std::size_t output_bytes = 0;
  Session session(target, [&](std::string_view bytes) { output_bytes += bytes.size(); });
  if (size > 0 && (data[0] & 2) != 0) {
    std::string_view rest = input.substr(1);
    std::string framed;
    while (!rest.empty() && !session.ended()) {
      std::size_t end = rest.find('\n');
      std::string_view payload = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      framed.clear();
      append_packet(framed, payload);
      session.receive(framed);
    }
  } else {
    std::size_t at = 0;
    std::size_t chunk = 1;
    while (at < input.size()) {
      session.receive(input.substr(at, chunk));
      at += chunk;
      chunk = chunk * 3 % 61 + 1;
    }
  }
  HLRR_CHECK(!session.running());
  return 0;
}
