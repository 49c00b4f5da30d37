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
  // One decoder for every input (its 16 KiB buffer per input was a fifth of the cost); "$#00"
  // ends whatever packet the last input left open, from any state, so each input starts idle.
  static PacketDecoder decoder;
  for (char c : std::string_view("$#00")) (void)decoder.next(c);
  HLRR_CHECK(!decoder.in_packet());
  for (char c : input) {
    if (decoder.next(c) != PacketDecoder::Event::kPacket) continue;
    std::string payload(decoder.payload());
    HLRR_CHECK(payload.size() <= kMaxPacketSize);
    std::string framed;
    append_packet(framed, payload);
    // Idle again after each use (a whole packet, or the check fails): one serves every input.
    static PacketDecoder again;
    PacketDecoder::Event last = PacketDecoder::Event::kNone;
    for (char f : framed) last = again.next(f);
    HLRR_CHECK(last == PacketDecoder::Event::kPacket && again.payload() == payload);
  }

  // The whole session, fed in uneven chunks, against one target reset for each input (building
  // one per input, with its 64 KiB memory, was most of this target's cost).
  static testing::FakeTarget target;
  target.reset();
  // Short runs: each step costs the fake ~1 us under the sanitizers, and the server is the same
  // whether a continue takes 64 steps or 2000. Exiting still takes a few continues (or a jump).
  target.max_continue_steps = 64;
  target.exit_at = testing::FakeTarget::kStartRip + 160;
  target.reverse_enabled = size > 0 && (data[0] & 1) != 0;
  target.accesses[0x1004] = {0x4000, true};
  const bool exec_file = size > 0 && (data[0] & 4) != 0;
  target.exec_path = exec_file ? "/g.elf" : "";
  target.exec_bytes.assign(exec_file ? 40 : 0, '}');
  const bool minimal = size > 0 && (data[0] & 8) != 0;
  target.hardware_breakpoints = !minimal;
  target.monitor_enabled = !minimal;
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
