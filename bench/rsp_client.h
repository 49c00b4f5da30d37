// A minimal RSP client for benchmarks: no-ack mode, one packet out, one reply in, over
// loopback; what a debugger does, without the debugger's own cost. Any error ends the program.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace hlrr::bench {

class RspClient {
 public:
  explicit RspClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    send("QStartNoAckMode");
    receive();
    // As gdb does: without it, breakpoint stops carry no swbreak/hwbreak reason.
    send("qSupported:swbreak+;hwbreak+");
    receive();
  }
  ~RspClient() { ::close(fd_); }
  RspClient(const RspClient&) = delete;
  RspClient& operator=(const RspClient&) = delete;
  void send(const std::string& payload) {
    unsigned sum = 0;
    for (char c : payload) sum += static_cast<unsigned char>(c);
    char tail[4];
    std::snprintf(tail, sizeof tail, "#%02x", sum & 0xff);
    const std::string packet = "$" + payload + tail;
    if (::write(fd_, packet.data(), packet.size()) != static_cast<ssize_t>(packet.size()))
      fail("write");
  }
  std::string receive() {
    for (;;) {
      std::string payload;
      bool in_packet = false;
      for (;;) {
        const char c = next();
        if (!in_packet) {
          in_packet = c == '$';
          continue;
        }
        if (c == '#') {
          next(), next();
          break;
        }
        payload.push_back(c);
      }
      if (payload.size() > 1 && payload[0] == 'O' && payload != "OK") {  // console output
        for (size_t i = 1; i + 1 < payload.size(); i += 2) {
          console_.push_back(static_cast<char>(std::stoi(payload.substr(i, 2), nullptr, 16)));
        }
        continue;
      }
      return payload;
    }
  }
  std::string request(const std::string& payload) {
    send(payload);
    return receive();
  }
  std::string monitor(const std::string& command) {
    std::string hex;
    for (unsigned char c : command) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", c);
      hex += b;
    }
    return request("qRcmd," + hex);
  }
  // What a monitor command printed (its console output), or "" when it failed.
  std::string monitor_output(const std::string& command) {
    console_.clear();
    return monitor(command) == "OK" ? console_ : std::string();
  }

 private:
  [[noreturn]] static void fail(const std::string& message) {
    std::fprintf(stderr, "rsp client: %s\n", message.c_str());
    std::exit(2);
  }
  char next() {
    if (pos_ == len_) {
      const ssize_t n = ::read(fd_, buf_, sizeof buf_);
      if (n <= 0) fail("connection closed");
      pos_ = 0, len_ = static_cast<size_t>(n);
    }
    return buf_[pos_++];
  }
  int fd_ = -1;
  char buf_[1 << 16];
  size_t pos_ = 0, len_ = 0;
  std::string console_;  // console output (O packets) since monitor_output() began
};

}  // namespace hlrr::bench
