// The dispatcher and session through an in-memory connection against FakeTarget: exact bytes.
#include "rsp/session.h"

#include <gtest/gtest.h>

#include <string>

#include "rsp/hex.h"
#include "rsp/target_description.h"
#include "tests/rsp/fake_target.h"

namespace hlrr::rsp {
namespace {

using testing::FakeTarget;

std::string frame(std::string_view payload) {
  std::string out;
  append_packet(out, payload);
  return out;
}

std::string hex(std::string_view bytes) {
  std::string out;
  append_hex_bytes(out, bytes);
  return out;
}

std::string le64(uint64_t value) {
  std::string out;
  for (int i = 0; i < 8; ++i) append_hex_u8(out, static_cast<uint8_t>(value >> (8 * i)));
  return out;
}

class SessionTest : public ::testing::Test {
 protected:
  // Raw bytes in, raw bytes out.
  std::string send(std::string_view raw) {
    out_.clear();
    session_.receive(raw);
    return out_;
  }
  // One framed request; returns what the server wrote (ack + reply).
  std::string request(std::string_view payload) { return send(frame(payload)); }
  // The reply's payload alone, unescaped (checks the ack and the framing on the way).
  std::string reply(std::string_view payload) {
    std::string raw = request(payload);
    EXPECT_TRUE(raw.starts_with("+$")) << raw;
    PacketDecoder decoder;
    std::string body;
    int packets = 0;
    for (char c : std::string_view(raw).substr(1)) {
      if (decoder.next(c) == PacketDecoder::Event::kPacket) {
        body = decoder.payload();
        ++packets;
      }
    }
    EXPECT_EQ(packets, 1) << raw;
    EXPECT_EQ(raw, "+" + frame(body));
    return body;
  }
  std::string stop_reply(uint64_t rip, std::string_view reason, uint8_t sig = 5) {
    std::string s = "T";
    append_hex_u8(s, sig);
    s += "06:" + le64(0) + ";07:" + le64(0x8000) + ";10:" + le64(rip) + ";thread:" + thread_ + ";";
    return s + std::string(reason);
  }
  std::string thread_ = "01";  // "p1.1" once the client and we agreed on multiprocess

  FakeTarget target_;
  std::string out_;
  Session session_{target_, [this](std::string_view bytes) { out_.append(bytes); }};
};

TEST_F(SessionTest, ReadsAllRegistersAsExactHex) {
  std::string raw = send("$g#67");
  std::string regs_hex;
  append_hex_bytes(regs_hex, target_.regs());
  // The target's register file, then orig_rax: -1, never in a syscall.
  EXPECT_EQ(raw, "+" + frame(regs_hex + "ffffffffffffffff"));
  EXPECT_EQ(regs_hex.size(), 2 * kRegisterFileSize);
  EXPECT_EQ(regs_hex.substr(0, 16), "8877665544332211");    // rax
  EXPECT_EQ(regs_hex.substr(256, 16), "0010000000000000");  // rip = 0x1000
  EXPECT_EQ(regs_hex.substr(272, 8), "02020000");           // eflags
}

TEST_F(SessionTest, ReadsMemory) {
  // FakeTarget memory holds (address * 7) & 0xff.
  EXPECT_EQ(send("$m1000,4#8e"), "+$00070e15#c2");
  EXPECT_EQ(checksum("00070e15"), 0xc2);
}

TEST_F(SessionTest, MemoryOutsideTheGuestIsAnError) {
  EXPECT_EQ(request("m10000,4"), "+$E0e#da");
}

TEST_F(SessionTest, InsertsAndRemovesBreakpoints) {
  EXPECT_EQ(send("$Z0,1000,1#d4"), "+$OK#9a");
  EXPECT_TRUE(target_.breakpoints().contains({BreakpointKind::kSoftware, 0x1000}));
  EXPECT_EQ(request("z0,1000,1"), "+$OK#9a");
  EXPECT_TRUE(target_.breakpoints().empty());
  EXPECT_EQ(request("Z2,4000,4"), "+$OK#9a");
  ASSERT_EQ(target_.watchpoints().size(), 1u);
  EXPECT_EQ(target_.watchpoints()[0].kind, BreakpointKind::kWriteWatch);
  EXPECT_EQ(target_.watchpoints()[0].length, 4u);
  EXPECT_EQ(request("z0,2000,1"), "+$E01#a6");  // not inserted: the target refuses
  EXPECT_EQ(request("Z9,1000,1"), "+$E16#ac");
}

TEST_F(SessionTest, UnsupportedBreakpointKindGetsEmptyReply) {
  target_.hardware_breakpoints = false;
  EXPECT_EQ(request("Z1,1000,1"), "+$#00");
}

TEST_F(SessionTest, UnknownPacketsGetTheEmptyReply) {
  EXPECT_EQ(send("$qFoo#95"), "+$#00");
  EXPECT_EQ(checksum("qFoo"), 0x95);
  EXPECT_EQ(request("jThreadsInfo"), "+$#00");
  EXPECT_EQ(request("qStructuredDataPlugins"), "+$#00");
  EXPECT_EQ(request("vMustReplyEmpty"), "+$#00");
  EXPECT_EQ(request("qTStatus"), "+$#00");
  EXPECT_EQ(request("qSupportedX"), "+$#00");  // a longer name is a different packet
  EXPECT_EQ(request(""), "+$#00");
}

TEST_F(SessionTest, MalformedPacketsGetAnErrorAndTheSessionGoesOn) {
  EXPECT_EQ(request("m1000"), "+$E16#ac");
  EXPECT_EQ(request("mzz,1"), "+$E16#ac");
  EXPECT_EQ(request("p999"), "+$E16#ac");
  EXPECT_EQ(request("M1000,2:zz"), "+$E16#ac");
  EXPECT_EQ(send("$m1000,4#8e"), "+$00070e15#c2");
}

TEST_F(SessionTest, ReadsAndWritesOneRegister) {
  EXPECT_EQ(reply("p10"), "0010000000000000");
  EXPECT_EQ(reply("p11"), "02020000");
  EXPECT_EQ(reply("p28"), std::string(32, '0'));  // xmm0
  EXPECT_EQ(reply("P10=0020000000000000"), "OK");
  EXPECT_EQ(target_.rip(), 0x2000u);
  EXPECT_EQ(reply("P38=801f0000"), "OK");  // mxcsr
  EXPECT_EQ(get_register(target_.regs(), kMxcsr), 0x1f80u);
  EXPECT_EQ(reply("P10=00"), "E16");  // wrong size
}

TEST_F(SessionTest, WritesAllRegisters) {
  RegisterFile regs = target_.regs();
  set_register(regs, kRbx, 0xdeadbeef);
  std::string g = "G";
  append_hex_bytes(g, regs);
  EXPECT_EQ(reply(g), "OK");
  EXPECT_EQ(get_register(target_.regs(), kRbx), 0xdeadbeefu);
  EXPECT_EQ(reply("G00"), "OK");  // a short G writes the leading bytes
  EXPECT_EQ(get_register(target_.regs(), kRax), 0x1122334455667700u);
}

TEST_F(SessionTest, WritesMemoryHexAndBinary) {
  EXPECT_EQ(reply("M1000,2:abcd"), "OK");
  EXPECT_EQ(target_.memory()[0x1000], 0xab);
  EXPECT_EQ(target_.memory()[0x1001], 0xcd);
  // X with bytes that need escaping and a 0x03 inside the packet.
  std::string data = std::string("}#$*") + '\x03';
  EXPECT_EQ(reply("X2000,5:" + data), "OK");
  EXPECT_EQ(std::string(target_.memory().begin() + 0x2000, target_.memory().begin() + 0x2005),
            data);
  EXPECT_EQ(reply("X2000,0:"), "OK");  // gdb's probe for X support
  EXPECT_EQ(reply("X2000,2:a"), "E16");
}

// Lengths from the client are checked before any arithmetic: 2 * 0x8000000000000000 wraps to
// 0 and once let an empty payload "match", decoding 2^63 bytes into an 8 KiB stack buffer from
// the packet buffer, which still held the previous packet's hex digits.
TEST_F(SessionTest, WriteLengthsThatOverflowAreRefused) {
  const std::vector<uint8_t> before = target_.memory();
  // Without the bound, decoding ran off the end of the packet buffer (ASan:
  // heap-buffer-overflow); a build without ASan shows no symptom here.
  const std::string hex_digits(kMaxPacketSize - 1, '1');
  EXPECT_EQ(reply("m" + hex_digits), "E16");
  EXPECT_EQ(reply("M0,8000000000000000:"), "E16");
  EXPECT_EQ(reply("m" + hex_digits), "E16");
  EXPECT_EQ(reply("M0,8000000000000002:abcd"), "E16");  // 2 * len wraps to 4
  EXPECT_EQ(reply("M0,ffffffffffffffff:" + std::string(0x3fe0, 'a')), "E16");
  EXPECT_EQ(reply("M0,2001:" + std::string(2 * 0x2001 - 16, '1')), "E16");  // 2 * len > data
  EXPECT_EQ(reply("X0,8000000000000000:"), "E16");
  EXPECT_EQ(reply("X0,ffffffffffffffff:ab"), "E16");
  EXPECT_EQ(target_.memory(), before);
  // The longest hex write that fits a packet still works.
  const std::size_t max_hex = (kMaxPacketSize - 16) / 2;
  std::string m = "M0,";
  append_hex_u64(m, max_hex);
  EXPECT_EQ(reply(m + ":" + std::string(2 * max_hex, 'e')), "OK");
  EXPECT_EQ(target_.memory()[max_hex - 1], 0xee);
  EXPECT_EQ(target_.memory()[max_hex], before[max_hex]);
}

TEST_F(SessionTest, BinaryWriteWithRunLengthFromTheClient) {
  // "X3000,5:a*!": 'a' and 4 more ('!' = 33, 33 - 29 = 4).
  std::string body = "X3000,5:a*!";
  char cs[3];
  std::snprintf(cs, sizeof cs, "%02x", checksum(body));
  EXPECT_EQ(send("$" + body + "#" + cs), "+$OK#9a");
  EXPECT_EQ(std::string(target_.memory().begin() + 0x3000, target_.memory().begin() + 0x3005),
            "aaaaa");
}

TEST_F(SessionTest, StepReportsExpeditedRegisters) {
  EXPECT_EQ(reply("s"), stop_reply(0x1001, ""));
  EXPECT_EQ(reply("vCont;s:1"), stop_reply(0x1002, ""));
  EXPECT_EQ(reply("s1100"), stop_reply(0x1101, ""));  // step from an address
  EXPECT_EQ(reply("S05"), stop_reply(0x1102, ""));
}

TEST_F(SessionTest, ContinueStopsAtBreakpoints) {
  reply("qSupported:multiprocess+;swbreak+;hwbreak+");  // as gdb asks
  thread_ = "p1.1";
  EXPECT_EQ(reply("Z0,1005,1"), "OK");
  EXPECT_EQ(reply("c"), stop_reply(0x1005, "swbreak:;"));
  EXPECT_EQ(reply("Z1,1008,1"), "OK");
  EXPECT_EQ(reply("vCont;c"), stop_reply(0x1008, "hwbreak:;"));
  EXPECT_EQ(reply("?"), stop_reply(0x1008, "hwbreak:;"));
}

// swbreak/hwbreak are stop reasons only for a client that offered them in qSupported (lldb
// does not); watchpoint reasons are part of the base protocol.
TEST_F(SessionTest, BreakpointReasonsOnlyForAClientThatAskedForThem) {
  reply("qSupported:xmlRegisters=i386;multiprocess+");
  thread_ = "p1.1";
  EXPECT_EQ(reply("Z0,1005,1"), "OK");
  EXPECT_EQ(reply("c"), stop_reply(0x1005, ""));
  EXPECT_EQ(reply("Z1,1008,1"), "OK");
  EXPECT_EQ(reply("c"), stop_reply(0x1008, ""));
  reply("qSupported:swbreak+");
  thread_ = "01";
  EXPECT_EQ(reply("?"), stop_reply(0x1008, ""));  // a hardware breakpoint: hwbreak not asked
  EXPECT_EQ(reply("Z0,100a,1"), "OK");
  EXPECT_EQ(reply("c"), stop_reply(0x100a, "swbreak:;"));
}

TEST_F(SessionTest, ContinueStopsAtWatchpoints) {
  target_.accesses[0x1002] = {0x4001, true};
  target_.accesses[0x1004] = {0x4002, false};
  EXPECT_EQ(reply("Z2,4000,4"), "OK");
  EXPECT_EQ(reply("c"), stop_reply(0x1003, "watch:4001;"));
  EXPECT_EQ(target_.memory()[0x4001], 0x02);  // the fake wrote rip's low byte
  EXPECT_EQ(reply("Z3,4002,1"), "OK");
  EXPECT_EQ(reply("c"), stop_reply(0x1005, "rwatch:4002;"));
}

TEST_F(SessionTest, FaultsBecomeSignals) {
  target_.faults[0x1000] = kSigSegv;
  EXPECT_EQ(reply("c"), stop_reply(0x1000, "", kSigSegv));
}

TEST_F(SessionTest, ExitEndsTheSession) {
  target_.exit_code = 3;
  EXPECT_EQ(reply("c"), "W03");
  EXPECT_TRUE(session_.ended());
  EXPECT_TRUE(session_.target_finished());
  EXPECT_EQ(send("$g#67"), "");  // nothing after the end
}

TEST_F(SessionTest, KillAndDetach) {
  EXPECT_EQ(request("k"), "+$X09#c1");
  EXPECT_TRUE(target_.killed);
  EXPECT_TRUE(session_.ended());
}

TEST_F(SessionTest, Detach) {
  EXPECT_EQ(reply("D"), "OK");
  EXPECT_TRUE(target_.detached);
  EXPECT_TRUE(session_.ended());
  EXPECT_FALSE(session_.target_finished());
}

TEST_F(SessionTest, VKill) {
  EXPECT_EQ(reply("vKill;1"), "OK");
  EXPECT_TRUE(target_.killed);
  EXPECT_TRUE(session_.ended());
}

TEST_F(SessionTest, QSupportedDerivedFromTheTarget) {
  EXPECT_EQ(reply("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386"),
            "PacketSize=4000;QStartNoAckMode+;qXfer:features:read+;vContSupported+;"
            "QThreadSuffixSupported+;QListThreadsInStopReply+;swbreak+;hwbreak+;multiprocess+");
  target_.reverse_enabled = true;
  target_.exec_path = "/tmp/guest.elf";
  EXPECT_EQ(reply("qSupported"),
            "PacketSize=4000;QStartNoAckMode+;qXfer:features:read+;vContSupported+;"
            "QThreadSuffixSupported+;QListThreadsInStopReply+;swbreak+;hwbreak+;"
            "qXfer:exec-file:read+;ReverseStep+;ReverseContinue+");
}

TEST_F(SessionTest, ReverseOnlyWithTheExtension) {
  EXPECT_EQ(reply("bs"), "");
  EXPECT_EQ(reply("bc"), "");
  target_.reverse_enabled = true;
  reply("qSupported:swbreak+;hwbreak+");  // as gdb asks
  EXPECT_EQ(reply("s"), stop_reply(0x1001, ""));
  EXPECT_EQ(reply("s"), stop_reply(0x1002, ""));
  EXPECT_EQ(reply("bs"), stop_reply(0x1001, ""));
  EXPECT_EQ(reply("bs"), stop_reply(0x1000, ""));
  EXPECT_EQ(reply("bs"), stop_reply(0x1000, "replaylog:begin;"));
  EXPECT_EQ(reply("Z0,1003,1"), "OK");
  EXPECT_EQ(reply("Z0,1010,1"), "OK");
  EXPECT_EQ(reply("c"), stop_reply(0x1003, "swbreak:;"));
  EXPECT_EQ(reply("c"), stop_reply(0x1010, "swbreak:;"));
  EXPECT_EQ(reply("bc"), stop_reply(0x1003, "swbreak:;"));
  EXPECT_EQ(reply("bc"), stop_reply(0x1000, "replaylog:begin;"));
}

TEST_F(SessionTest, ThreadPackets) {
  EXPECT_EQ(reply("Hg1"), "OK");
  EXPECT_EQ(reply("Hc-1"), "OK");
  EXPECT_EQ(reply("Hg0"), "OK");
  EXPECT_EQ(reply("Hg2"), "E16");
  EXPECT_EQ(reply("T1"), "OK");
  EXPECT_EQ(reply("T2"), "E16");
  EXPECT_EQ(reply("qC"), "QC1");
  EXPECT_EQ(reply("qfThreadInfo"), "m1");
  EXPECT_EQ(reply("qsThreadInfo"), "l");
  EXPECT_EQ(reply("qAttached"), "1");
  EXPECT_EQ(reply("qAttached:1"), "1");
  EXPECT_EQ(reply("qOffsets"), "Text=0;Data=0;Bss=0");
  EXPECT_EQ(reply("qSymbol::"), "OK");
  EXPECT_EQ(reply("vCont?"), "vCont;c;C;s;S");
}

TEST_F(SessionTest, TargetXmlInChunks) {
  std::string xml;
  for (int i = 0; i < 100; ++i) {
    char packet[80];
    std::snprintf(packet, sizeof packet, "qXfer:features:read:target.xml:%zx,200", xml.size());
    std::string body = reply(packet);
    ASSERT_FALSE(body.empty());
    xml += body.substr(1);
    if (body[0] == 'l') break;
    ASSERT_EQ(body[0], 'm');
    ASSERT_EQ(body.size(), 0x201u);
  }
  EXPECT_EQ(xml, target_xml());
  EXPECT_NE(xml.find("<architecture>i386:x86-64</architecture>"), std::string::npos);
  EXPECT_EQ(xml.find("osabi"), std::string::npos);
  EXPECT_NE(xml.find("<feature name=\"org.gnu.gdb.i386.core\">"), std::string::npos);
  EXPECT_NE(xml.find("<feature name=\"org.gnu.gdb.i386.sse\">"), std::string::npos);
  EXPECT_NE(xml.find("<feature name=\"org.gnu.gdb.i386.segments\">"), std::string::npos);
  EXPECT_NE(xml.find("<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\" regnum=\"40\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<reg name=\"gs_base\" bitsize=\"64\" type=\"int\" regnum=\"58\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<flags id=\"i386_eflags\" size=\"4\">"), std::string::npos);
  EXPECT_EQ(reply("qXfer:features:read:target.xml:ffff,10"), "l");
  EXPECT_EQ(reply("qXfer:features:read:other.xml:0,10"), "E16");
}

TEST_F(SessionTest, ExecFile) {
  EXPECT_EQ(reply("qXfer:exec-file:read::0,100"), "");
  target_.exec_path = "/tmp/guest.elf";
  EXPECT_EQ(reply("qXfer:exec-file:read:1:0,100"), "l/tmp/guest.elf");
  EXPECT_EQ(reply("qXfer:exec-file:read::0,4"), "m/tmp");
}

TEST_F(SessionTest, ExecFileBytesOverVFile) {
  EXPECT_EQ(reply("vFile:setfs:0"), "");  // no bytes offered: host I/O unsupported
  target_.exec_path = "/g.elf";
  target_.exec_bytes = {0x7f, 'E', 'L', 'F', '#', '$', 0x00, 0x03};
  EXPECT_EQ(reply("vFile:setfs:0"), "F0");
  EXPECT_EQ(reply("vFile:open:" + hex("/other") + ",0,0"), "F-1,2");
  EXPECT_EQ(reply("vFile:open:" + hex("/g.elf") + ",1,0"), "F-1,d");  // EACCES (13)
  EXPECT_EQ(reply("vFile:pread:3,10,0"), "F-1,9");                    // not open yet
  EXPECT_EQ(reply("vFile:open:" + hex("/g.elf") + ",0,1c0"), "F3");
  // Binary data, escaped on the wire (# and $), unescaped here by the framing check.
  EXPECT_EQ(reply("vFile:pread:3,4,0"),
            "F4;\x7f"
            "ELF");
  EXPECT_EQ(reply("vFile:pread:3,100,4"), std::string("F4;#$\0\x03", 7));
  EXPECT_EQ(request("vFile:pread:3,1,4"), "+$F1;}\x03#32");
  EXPECT_EQ(reply("vFile:pread:3,10,8"), "F0;");
  // fstat: gdb's struct fio_stat, big-endian: a regular read-only file of 8 bytes.
  EXPECT_EQ(reply("vFile:fstat:3"), std::string("F40;\0\0\0\0\0\0\0\0\0\0\x81\x24\0\0\0\x01", 20) +
                                        std::string(12, '\0') + std::string(7, '\0') + "\x08" +
                                        std::string(6, '\0') + std::string("\x10\0", 2) +
                                        std::string(7, '\0') + "\x01" + std::string(12, '\0'));
  EXPECT_EQ(reply("vFile:fstat:4"), "F-1,9");
  EXPECT_EQ(reply("vFile:close:3"), "F0");
  EXPECT_EQ(reply("vFile:close:3"), "F-1,9");
  EXPECT_EQ(reply("vFile:pread:zz"), "F-1,16");
}

// Monitor output as `O` packets followed by OK.
std::string console(std::string_view text) {
  return frame("O" + hex(text)) + frame("OK");
}

TEST_F(SessionTest, MonitorCommands) {
  EXPECT_EQ(request("qRcmd," + hex("help")),
            "+" + console("help -- list monitor commands\nwhere -- print the instruction "
                          "pointer\necho -- print the arguments\n"));
  EXPECT_EQ(request("qRcmd," + hex("where")), "+" + console("rip=0x1000\n"));
  EXPECT_EQ(request("qRcmd," + hex("nope")), "+" + console("error: no such command: nope\n"));
  EXPECT_EQ(reply("qRcmd,zz"), "E16");
  target_.monitor_enabled = false;
  EXPECT_EQ(request("qRcmd," + hex("help")), "+" + console("help -- list monitor commands\n"));
  EXPECT_EQ(request("qRcmd," + hex("where")),
            "+" + console("unknown monitor command 'where'; try 'monitor help'\n"));
}

TEST_F(SessionTest, LongMonitorOutputIsChunked) {
  std::string text(5000, 'x');
  std::string raw = request("qRcmd," + hex("echo " + text));
  constexpr std::size_t kChunk = kMaxPacketSize / 4;
  std::string expected = "+" + frame("O" + hex(text.substr(0, kChunk))) +
                         frame("O" + hex(text.substr(kChunk) + "\n")) + frame("OK");
  EXPECT_EQ(raw, expected);
}

TEST_F(SessionTest, LldbPackets) {
  EXPECT_EQ(reply("qHostInfo"),
            "triple:" + hex("x86_64-unknown-unknown") + ";ptrsize:8;endian:little;");
  EXPECT_EQ(reply("qProcessInfo"),
            "pid:1;ptrsize:8;endian:little;triple:" + hex("x86_64-unknown-unknown") + ";");
  EXPECT_EQ(reply("qRegisterInfo0"),
            "name:rax;bitsize:64;offset:0;encoding:uint;format:hex;"
            "set:General Purpose Registers;gcc:0;dwarf:0;");
  EXPECT_EQ(reply("qRegisterInfo10"),
            "name:rip;bitsize:64;offset:128;encoding:uint;format:hex;"
            "set:General Purpose Registers;gcc:16;dwarf:16;generic:pc;");
  EXPECT_EQ(reply("qRegisterInfo28"),
            "name:xmm0;bitsize:128;offset:276;encoding:vector;format:vector-uint8;"
            "set:SSE Registers;gcc:17;dwarf:17;");
  EXPECT_EQ(reply("qRegisterInfo3a"),
            "name:gs_base;bitsize:64;offset:544;encoding:uint;format:hex;"
            "set:General Purpose Registers;gcc:59;dwarf:59;");
  EXPECT_EQ(reply("qRegisterInfo3b"), "E45");
  EXPECT_EQ(reply("qMemoryRegionInfo:1000"),
            "start:1000;size:3000;permissions:rx;name:" + hex("text") + ";");
  EXPECT_EQ(reply("qMemoryRegionInfo:4800"),
            "start:4000;size:c000;permissions:rw;name:" + hex("data") + ";");
  EXPECT_EQ(reply("qMemoryRegionInfo:10"), "start:10;size:ff0;");
  EXPECT_EQ(reply("QThreadSuffixSupported"), "OK");
  EXPECT_EQ(reply("p10;thread:0001;"), "0010000000000000");
  EXPECT_EQ(reply("P0=0100000000000000;thread:0001;"), "OK");
  EXPECT_EQ(get_register(target_.regs(), kRax), 1u);
  EXPECT_EQ(reply("QListThreadsInStopReply"), "OK");
  EXPECT_EQ(reply("s"), stop_reply(0x1001, "threads:1;thread-pcs:1001;"));
}

TEST_F(SessionTest, NoAckMode) {
  EXPECT_EQ(send("$QStartNoAckMode#b0"), "+$OK#9a");
  EXPECT_FALSE(session_.acks_enabled());
  EXPECT_EQ(send("+$g#67").substr(0, 3), "$88");  // no ack any more
  EXPECT_EQ(send("$g#00"), "");                   // bad checksum: silently dropped
  EXPECT_EQ(send("-"), "");                       // no retransmission either
}

TEST_F(SessionTest, NackResendsTheLastPacket) {
  EXPECT_EQ(send("$m1000,4#8e"), "+$00070e15#c2");
  EXPECT_EQ(send("-"), "$00070e15#c2");
  EXPECT_EQ(send("-"), "$00070e15#c2");
  EXPECT_EQ(send("+"), "");
  EXPECT_EQ(send("-"), "");  // acknowledged: nothing left to resend
}

TEST_F(SessionTest, BadChecksumAsksForAResend) {
  EXPECT_EQ(send("$m1000,4#00"), "-");
  EXPECT_EQ(send("$m1000,4#8e"), "+$00070e15#c2");
}

TEST_F(SessionTest, OversizePacketIsRefusedAndServingGoesOn) {
  EXPECT_EQ(request("X1000,5000:" + std::string(kMaxPacketSize, 'a')), "+$E07#ac");
  EXPECT_EQ(send("$m1000,4#8e"), "+$00070e15#c2");
}

TEST_F(SessionTest, GarbageAndTruncatedPacketsAreSurvived) {
  EXPECT_EQ(send("garbage\r\n"), "");
  EXPECT_EQ(send("$m1000"), "");
  EXPECT_EQ(send("$m1000,4#8e"), "+$00070e15#c2");
  EXPECT_EQ(send("\x03"), "");  // interrupt while stopped: ignored
}

TEST_F(SessionTest, InterruptWhileRunningThenAPacketThatWaitedIsAnswered) {
  Session::Work work;
  std::stop_token token;
  Session session(
      target_, [this](std::string_view bytes) { out_.append(bytes); },
      [&](Session::Work w, std::stop_token t) {
        work = std::move(w);
        token = std::move(t);
      });
  target_.exit_at.reset();
  out_.clear();
  session.receive("$c#63");
  EXPECT_EQ(out_, "+");
  ASSERT_TRUE(session.running());
  EXPECT_FALSE(token.stop_requested());
  out_.clear();
  // Waits while running; acked when its turn comes, so that the ack stays before its reply.
  EXPECT_EQ(session.receive("$g#67"), 5u);
  EXPECT_EQ(out_, "");
  session.receive("\x03");
  EXPECT_TRUE(token.stop_requested());
  work(token);  // the target thread's part
  session.packet_done();
  EXPECT_EQ(out_, frame(stop_reply(0x1000, "", kSigInt)) + "+");
  // The waiting `g` is launched next, with a fresh token.
  ASSERT_TRUE(session.running());
  EXPECT_FALSE(token.stop_requested());
  out_.clear();
  work(token);
  session.packet_done();
  EXPECT_FALSE(session.running());
  std::string regs_hex;
  append_hex_bytes(regs_hex, target_.regs());
  EXPECT_EQ(out_, frame(regs_hex + "ffffffffffffffff"));  // then orig_rax
}

}  // namespace
}  // namespace hlrr::rsp
