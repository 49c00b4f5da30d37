// libFuzzer: arbitrary client bytes through the RSP codec, session and dispatcher against
// FakeTarget (resumes run inline and are bounded). Checks the decoder's invariants too.
// The first byte picks options; with bit 1 set the rest is a list of '\n'-separated payloads
// that the harness frames itself, so the fuzzer reaches the handlers without having to guess
// checksums. Campaign flags and figures: docs/fuzzing.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "rsp/packet_codec.h"
#include "rsp/session.h"
#include "tests/rsp/fake_target.h"

namespace {

using namespace hlrr::rsp;

// The decoder alone: payloads never exceed the buffer, and re-framing a decoded packet decodes
// to the same payload. Both decoders serve every input (a 16 KiB buffer each per input was a
// fifth of the cost): `decoder` is left idle by the caller, `again` by each whole packet.
void check_decoder(PacketDecoder& decoder, std::string_view input) {
  static PacketDecoder again;
  std::string payload;
  std::string framed;
  for (char c : input) {
    if (decoder.next(c) != PacketDecoder::Event::kPacket) continue;
    payload = decoder.payload();
    HLRR_CHECK(payload.size() <= kMaxPacketSize);
    framed.clear();
    append_packet(framed, payload);
    PacketDecoder::Event last = PacketDecoder::Event::kNone;
    for (char f : framed) last = again.next(f);
    HLRR_CHECK(last == PacketDecoder::Event::kPacket && again.payload() == payload);
  }
}

// The whole session, fed in uneven chunks (or as framed payloads, see above).
void run_session(testing::FakeTarget& target, std::string_view input) {
  const uint8_t options = input.empty() ? 0 : static_cast<uint8_t>(input[0]);
  // Short runs: each step costs the fake ~1 us under the sanitizers, and the server is the same
  // whether a continue takes 64 steps or 2000. Exiting still takes a few continues (or a jump).
  target.max_continue_steps = 64;
  target.exit_at = testing::FakeTarget::kStartRip + 160;
  target.reverse_enabled = (options & 1) != 0;
  target.accesses[0x1004] = {0x4000, true};
  const bool exec_file = (options & 4) != 0;
  target.exec_path = exec_file ? "/g.elf" : "";
  target.exec_bytes.assign(exec_file ? 40 : 0, '}');
  target.hardware_breakpoints = (options & 8) == 0;
  target.monitor_enabled = (options & 8) == 0;

  std::size_t output_bytes = 0;
  Session session(target, [&](std::string_view bytes) { output_bytes += bytes.size(); });
  if ((options & 2) != 0) {
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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // One decoder and one target for every input, reset before returning rather than at the next
  // input, so that what an input allocates it also frees (libFuzzer reruns an input that frees
  // less than it allocates, under the leak checker).
  static PacketDecoder decoder;
  static testing::FakeTarget target;
  check_decoder(decoder, input);
  run_session(target, input);
  // "$#00" ends whatever packet the input left open, from any decoder state.
  for (char c : std::string_view("$#00")) (void)decoder.next(c);
  HLRR_CHECK(!decoder.in_packet());
  target.reset();
  return 0;
}
