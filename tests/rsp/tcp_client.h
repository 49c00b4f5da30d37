// A tiny blocking TCP client with timeouts, for driving the server in tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace hlrr::rsp::testing {

class TcpClient {
 public:
  enum class Family { kIpv4, kIpv6 };  // connects to 127.0.0.1 or ::1

  // `receive_buffer`: SO_RCVBUF in bytes (0: the kernel's default, which grows on demand).
  explicit TcpClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                     Family family = Family::kIpv4, int receive_buffer = 0) {
    fd_ = ::socket(family == Family::kIpv4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (family == Family::kIpv4) {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    } else {
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_port = htons(port);
      addr.sin6_addr = in6addr_loopback;
      connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
  }
  ~TcpClient() { close(); }
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads exactly `count` bytes, or fewer on EOF/timeout.
  std::string read(std::size_t count) {
    std::string out;
    char buf[4096];
    while (out.size() < count) {
      ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, count - out.size()), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  // Reads one `$...#cs` packet (after any acks), or whatever arrived before EOF/timeout.
  std::string read_packet() {
    std::string out;
    char c;
    while (::recv(fd_, &c, 1, 0) == 1) {
      out.push_back(c);
      std::size_t hash = out.find('#');
      if (hash != std::string::npos && out.size() == hash + 3) break;
    }
    return out;
  }

  // True if the server closed the connection (EOF) within the timeout.
  bool at_eof() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace hlrr::rsp::testing
