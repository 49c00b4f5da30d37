// What `gcore` needs from the protocol, exact bytes against FakeTarget: the multiprocess
// extension (thread ids "pP.T" only for a client that offered it), /proc/PID/{maps,smaps} over
// vFile and nothing else of the host, and orig_rax.
#include <gtest/gtest.h>

#include <string>

#include "rsp/hex.h"
#include "rsp/host_io.h"
#include "rsp/session.h"
#include "rsp/target_description.h"
#include "tests/rsp/fake_target.h"

namespace hlrr::rsp {
namespace {

std::string hex(std::string_view bytes) {
  std::string out;
  append_hex_bytes(out, bytes);
  return out;
}

class MultiprocessTest : public ::testing::Test {
 protected:
  // One request's reply payload, unframed (binary data unescaped).
  std::string reply(std::string_view payload) {
    out_.clear();
    std::string framed;
    append_packet(framed, payload);
    session_.receive(framed);
    PacketDecoder decoder;
    std::string body;
    for (char c : std::string_view(out_).substr(1)) {
      if (decoder.next(c) == PacketDecoder::Event::kPacket) body = decoder.payload();
    }
    return body;
  }
  // vFile:open + pread to the end + close, as gdb's target_fileio_read_stralloc does.
  std::string read_file(const std::string& path) {
    std::string fd = reply("vFile:open:" + hex(path) + ",0,0");
    if (!fd.starts_with("F") || fd.starts_with("F-")) return "open: " + fd;
    fd = fd.substr(1);
    std::string data;
    for (;;) {
      char request[64];
      std::snprintf(request, sizeof request, "vFile:pread:%s,100,%zx", fd.c_str(), data.size());
      const std::string chunk = reply(request);
      const auto semi = chunk.find(';');
      if (!chunk.starts_with("F") || semi == std::string::npos) return "pread: " + chunk;
      if (semi + 1 == chunk.size()) break;
      data += chunk.substr(semi + 1);
    }
    EXPECT_EQ(reply("vFile:close:" + fd), "F0");
    return data;
  }
  testing::FakeTarget target_;
  std::string out_;
  Session session_{target_, [this](std::string_view bytes) { out_.append(bytes); }};
};

TEST_F(MultiprocessTest, ThreadIdsArePidDotTidOnlyAfterTheClientOffered) {
  // No offer (lldb 14): the plain forms, as always.
  EXPECT_EQ(reply("qC"), "QC1");
  EXPECT_EQ(reply("qfThreadInfo"), "m1");
  EXPECT_NE(reply("s").find(";thread:01;"), std::string::npos);
  EXPECT_EQ(reply("qSupported:swbreak+").find("multiprocess"), std::string::npos);

  EXPECT_TRUE(reply("qSupported:multiprocess+;swbreak+").ends_with(";multiprocess+"));
  EXPECT_EQ(reply("qC"), "QCp1.1");
  EXPECT_EQ(reply("qfThreadInfo"), "mp1.1");
  EXPECT_EQ(reply("qsThreadInfo"), "l");
  EXPECT_NE(reply("s").find(";thread:p1.1;"), std::string::npos);
  EXPECT_NE(reply("vCont;s:p1.1").find(";thread:p1.1;"), std::string::npos);
  EXPECT_NE(reply("vCont;s:p1.-1").find(";thread:p1.1;"), std::string::npos);
  EXPECT_EQ(reply("vCont;s:p2.1"), "E16");  // another process: no action for us
  EXPECT_EQ(reply("Hgp1.1"), "OK");
  EXPECT_EQ(reply("Hcp-1.-1"), "OK");
  EXPECT_EQ(reply("Hgp0.0"), "OK");
  EXPECT_EQ(reply("Hg1"), "OK");  // the plain form still parses
  EXPECT_EQ(reply("Hgp1.2"), "E16");
  EXPECT_EQ(reply("Hgp2.1"), "E16");
  EXPECT_EQ(reply("Tp1.1"), "OK");
  EXPECT_EQ(reply("Tp1.2"), "E16");
  EXPECT_EQ(reply("qAttached:1"), "1");
  EXPECT_EQ(reply("D;2"), "E16");
  EXPECT_EQ(reply("D;zz"), "E16");
  EXPECT_EQ(reply("vKill;2"), "E16");
  EXPECT_FALSE(target_.killed);
  EXPECT_EQ(reply("D;1"), "OK");
  EXPECT_TRUE(target_.detached);
}

TEST_F(MultiprocessTest, ExitRepliesNameTheProcess) {
  reply("qSupported:multiprocess+");
  target_.exit_code = 3;
  EXPECT_EQ(reply("c"), "W03;process:1");
}

TEST_F(MultiprocessTest, VKillWithThePid) {
  reply("qSupported:multiprocess+");
  EXPECT_EQ(reply("vKill;1"), "OK");
  EXPECT_TRUE(target_.killed);
}

TEST_F(MultiprocessTest, ProcMapsAndSmapsOfTheGuestsMemoryRegions) {
  // Without the extension the client has no pid: nothing to serve (FakeTarget has no exec bytes).
  EXPECT_EQ(reply("vFile:setfs:0"), "");
  EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/smaps") + ",0,0"), "");
  reply("qSupported:multiprocess+");
  EXPECT_EQ(reply("vFile:setfs:0"), "F0");
  EXPECT_EQ(read_file("/proc/1/maps"),
            "00001000-00004000 r-xp 00000000 00:00 0                   [text]\n"
            "00004000-00010000 rw-p 00000000 00:00 0                   [data]\n");
  EXPECT_EQ(read_file("/proc/1/smaps"),
            "00001000-00004000 r-xp 00000000 00:00 0                   [text]\n"
            "Size:           12 kB\n"
            "Rss:            12 kB\n"
            "Anonymous:      12 kB\n"
            "00004000-00010000 rw-p 00000000 00:00 0                   [data]\n"
            "Size:           48 kB\n"
            "Rss:            48 kB\n"
            "Anonymous:      48 kB\n");
}

TEST_F(MultiprocessTest, NoHostFileIsEverServed) {
  reply("qSupported:multiprocess+");
  for (const char* path : {"/etc/passwd", "/proc/self/maps", "/proc/2/maps", "/proc/1/mem",
                           "/proc/1/coredump_filter", "/proc/1/cmdline", "", "/proc/1/maps/.."}) {
    EXPECT_EQ(reply("vFile:open:" + hex(path) + ",0,0"), "F-1,2") << path;  // ENOENT
  }
  EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/maps") + ",1,0"), "F-1,d");  // EACCES: write
  EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/maps") + ",202,1b6"), "F-1,d");
  // Bad arguments: EINVAL; unknown descriptors: EBADF; operations we lack: unsupported.
  EXPECT_EQ(reply("vFile:open:2f7,0,0"), "F-1,16");
  EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/maps")), "F-1,16");
  EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/maps") + ",x,0"), "F-1,16");
  EXPECT_EQ(reply("vFile:pread:3,10"), "F-1,16");
  EXPECT_EQ(reply("vFile:pread:3,10,0"), "F-1,9");
  EXPECT_EQ(reply("vFile:fstat:"), "F-1,9");
  EXPECT_EQ(reply("vFile:close:ffffffffffffffffff"), "F-1,9");
  EXPECT_EQ(reply("vFile:setfs:q"), "F-1,16");
  EXPECT_EQ(reply("vFile:unlink:" + hex("/proc/1/maps")), "");
  EXPECT_EQ(reply("vFile:readlink:" + hex("/proc/1/exe")), "");
  // At most 16 open files; closing one frees its number.
  for (uint64_t fd = 3; fd < 3 + 16; ++fd) {
    std::string want = "F";
    append_hex_u64(want, fd);
    EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/maps") + ",0,0"), want);
  }
  EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/maps") + ",0,0"), "F-1,18");  // EMFILE
  EXPECT_EQ(reply("vFile:close:5"), "F0");
  EXPECT_EQ(reply("vFile:open:" + hex("/proc/1/smaps") + ",0,0"), "F5");
}

TEST_F(MultiprocessTest, OrigRaxIsMinusOneAndWritesAreIgnored) {
  const std::string xml = target_xml();
  EXPECT_NE(xml.find("<feature name=\"org.gnu.gdb.i386.linux\">\n"
                     "    <reg name=\"orig_rax\" bitsize=\"64\" type=\"int\" regnum=\"59\"/>\n"
                     "  </feature>\n</target>\n"),
            std::string::npos)
      << xml;
  EXPECT_EQ(reply("p3b"), "ffffffffffffffff");
  EXPECT_EQ(reply("P3b=0000000000000000"), "OK");
  EXPECT_EQ(reply("p3b"), "ffffffffffffffff");
  EXPECT_EQ(reply("P3b=00"), "E16");
  EXPECT_EQ(reply("p3c"), "E16");
  // G with orig_rax (as gdb sends it) writes the target's registers and ignores the tail.
  std::string g = reply("g");
  ASSERT_EQ(g.size(), 2 * kWireRegisterFileSize);
  g.replace(0, 16, "0100000000000000");  // rax = 1
  EXPECT_EQ(reply("G" + g.substr(0, g.size() - 16) + "0000000000000000"), "OK");
  EXPECT_EQ(get_register(target_.regs(), kRax), 1u);
  EXPECT_EQ(reply("g"), g);
  EXPECT_EQ(reply("G" + g + "00"), "E16");  // longer than the wire file
  EXPECT_EQ(reply("G" + g.substr(0, g.size() - 16) + "zz"), "E16");
}

}  // namespace
}  // namespace hlrr::rsp
