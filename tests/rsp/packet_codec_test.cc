#include "rsp/packet_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hlrr::rsp {
namespace {

using Event = PacketDecoder::Event;

struct Decoded {
  std::vector<Event> events;
  std::vector<std::string> packets;
};

Decoded decode(PacketDecoder& decoder, std::string_view bytes) {
  Decoded out;
  for (char c : bytes) {
    Event e = decoder.next(c);
    if (e == Event::kNone) continue;
    out.events.push_back(e);
    if (e == Event::kPacket) out.packets.emplace_back(decoder.payload());
  }
  return out;
}

Decoded decode(std::string_view bytes) {
  PacketDecoder decoder;
  return decode(decoder, bytes);
}

TEST(PacketCodec, Checksum) {
  EXPECT_EQ(checksum(""), 0x00);
  EXPECT_EQ(checksum("OK"), 0x9a);
  EXPECT_EQ(checksum("g"), 0x67);
  EXPECT_EQ(checksum("m1000,4"), 0x8e);
  EXPECT_EQ(checksum(std::string(300, '\xff')), (300 * 0xff) % 256);
}

TEST(PacketCodec, FramesPlainPayloads) {
  std::string out;
  append_packet(out, "OK");
  EXPECT_EQ(out, "$OK#9a");
  out.clear();
  append_packet(out, "");
  EXPECT_EQ(out, "$#00");
}

TEST(PacketCodec, EscapesSpecialBytesAndChecksumsTheEscapedForm) {
  std::string out;
  append_packet(out, std::string_view("a$b#c}d*e"));
  // } ^ 0x20: $ -> }\x04, # -> }\x03, } -> }], * -> }\x0a
  const std::string body = std::string("a}\x04") + "b}\x03" + "c}]" + "d}\x0a" + "e";
  char cs[3];
  std::snprintf(cs, sizeof cs, "%02x", checksum(body));
  EXPECT_EQ(out, "$" + body + "#" + cs);
  EXPECT_EQ(decode(out).packets, std::vector<std::string>{"a$b#c}d*e"});
}

TEST(PacketCodec, DecodesOnePacket) {
  Decoded d = decode("$m1000,4#8e");
  ASSERT_EQ(d.events, std::vector<Event>{Event::kPacket});
  EXPECT_EQ(d.packets[0], "m1000,4");
}

TEST(PacketCodec, ChecksumDigitsAreCaseInsensitive) {
  EXPECT_EQ(decode("$m1000,4#8E").packets, std::vector<std::string>{"m1000,4"});
}

TEST(PacketCodec, BadChecksumIsReported) {
  EXPECT_EQ(decode("$g#68").events, std::vector<Event>{Event::kBadChecksum});
  EXPECT_EQ(decode("$g#zz").events, std::vector<Event>{Event::kBadChecksum});
}

TEST(PacketCodec, AcksNacksAndInterruptBetweenPackets) {
  Decoded d = decode("+-\x03$g#67\x03+");
  EXPECT_EQ(d.events, (std::vector<Event>{Event::kAck, Event::kNack, Event::kInterrupt,
                                          Event::kPacket, Event::kInterrupt, Event::kAck}));
}

TEST(PacketCodec, InterruptRightAfterACutOffPacketIsNotLost) {
  // A packet cut off in its checksum is dropped; the 0x03 after it is still an interrupt.
  EXPECT_EQ(decode("$g#\x03").events, std::vector<Event>{Event::kInterrupt});
  EXPECT_EQ(decode("$g#6\x03").events, std::vector<Event>{Event::kInterrupt});
  Decoded d = decode("$m1000,4#\x03$g#67");
  EXPECT_EQ(d.events, (std::vector<Event>{Event::kInterrupt, Event::kPacket}));
  EXPECT_EQ(d.packets, std::vector<std::string>{"g"});
}

TEST(PacketCodec, InterruptByteInsideAPacketIsData) {
  // Binary X data may hold 0x03; only outside a packet is it an interrupt.
  std::string body = std::string("X10,1:") + '\x03';
  std::string framed;
  append_packet(framed, body);
  Decoded d = decode(framed);
  ASSERT_EQ(d.events, std::vector<Event>{Event::kPacket});
  EXPECT_EQ(d.packets[0], body);
}

TEST(PacketCodec, GarbageBetweenPacketsIsIgnored) {
  using namespace std::literals;
  Decoded d = decode("hello\r\n\xff\x00$g#67junk$OK#9a"sv);
  EXPECT_EQ(d.packets, (std::vector<std::string>{"g", "OK"}));
}

TEST(PacketCodec, RunLengthIsExpanded) {
  // "0* " = '0' repeated 32-29 = 3 more times.
  std::string body = "m0* ";
  char cs[3];
  std::snprintf(cs, sizeof cs, "%02x", checksum(body));
  Decoded d = decode("$" + body + "#" + cs);
  EXPECT_EQ(d.packets, std::vector<std::string>{"m0000"});
}

TEST(PacketCodec, RunLengthWithoutAPreviousByteIsMalformed) {
  std::string body = "*!";
  char cs[3];
  std::snprintf(cs, sizeof cs, "%02x", checksum(body));
  EXPECT_EQ(decode("$" + body + "#" + cs).events, std::vector<Event>{Event::kMalformed});
}

TEST(PacketCodec, TruncatedPacketIsDroppedWhenTheNextStarts) {
  Decoded d = decode("$m1000,4$g#67");
  EXPECT_EQ(d.packets, std::vector<std::string>{"g"});
  PacketDecoder decoder;
  decode(decoder, "$m10");
  EXPECT_TRUE(decoder.in_packet());
}

TEST(PacketCodec, OversizePacketIsReportedAndDecodingGoesOn) {
  std::string big(kMaxPacketSize + 1, 'a');
  std::string framed;
  append_packet(framed, big);
  Decoded d = decode(framed + "$g#67");
  EXPECT_EQ(d.events, (std::vector<Event>{Event::kOversize, Event::kPacket}));
  EXPECT_EQ(d.packets, std::vector<std::string>{"g"});
  // Exactly kMaxPacketSize is fine.
  framed.clear();
  append_packet(framed, std::string(kMaxPacketSize, 'b'));
  d = decode(framed);
  ASSERT_EQ(d.events, std::vector<Event>{Event::kPacket});
  EXPECT_EQ(d.packets[0].size(), kMaxPacketSize);
}

TEST(PacketCodec, ByteAtATimeEqualsAllAtOnce) {
  std::string stream = "+$qSupported:swbreak+#8b$g#67\x03";
  PacketDecoder one;
  Decoded a;
  for (char c : stream) {
    Decoded part = decode(one, std::string_view(&c, 1));
    a.events.insert(a.events.end(), part.events.begin(), part.events.end());
    a.packets.insert(a.packets.end(), part.packets.begin(), part.packets.end());
  }
  Decoded b = decode(stream);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.packets, b.packets);
}

}  // namespace
}  // namespace hlrr::rsp
