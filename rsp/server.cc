#include "rsp/server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "rsp/session.h"
#include "rsp/target_thread.h"

namespace hlrr::rsp {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

// Sent to a client that connects while another one is being served.
constexpr std::string_view kBusyReply = "$E01#a6";

// How often an ephemeral port free on 127.0.0.1 is tried again because it is taken on ::1.
constexpr int kEphemeralPortAttempts = 20;

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

// Opens, binds and listens `acceptor` on `endpoint`; closes it again on failure.
error_code open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec && endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    acceptor.close(ignored);
  }
  return ec;
}

// The machine has no usable ::1 (IPv6 disabled in the kernel or on lo).
bool ipv6_unavailable(const error_code& ec) {
  return ec == asio::error::address_family_not_supported ||
         ec == boost::system::errc::address_not_available;
}

// Unsent reply bytes beyond which we stop reading a client until they drain: one that sends
// requests and never reads the replies must not grow the server without bound.
constexpr std::size_t kMaxUnsentBytes = 1 << 20;
// Received bytes go to the session in slices this small, so one read full of small requests
// with large replies (`m0,1ff0`: 12 bytes in, 16 KiB out) overshoots the bound by little.
constexpr std::size_t kFeedSlice = 64;

}  // namespace

class Server::Impl {
 public:
  Impl(Target& target, ServerOptions options, TargetThread* thread)
      : target_(target),
        options_(std::move(options)),
        own_thread_(thread ? nullptr : std::make_unique<TargetThread>()),
        target_thread_(thread ? thread : own_thread_.get()) {}
  // Before the event loop goes: a handed thread may still be posting the last job's completion.
  ~Impl() { target_thread_->wait_idle(); }

  base::Status listen();
  uint16_t port() const { return port_; }
  std::vector<std::string> endpoints() const;
  base::Expected<End> run();
  void stop() {
    asio::post(io_, [this] { shut_down(End::kStopped); });
  }

 private:
  class Connection;
  friend class Connection;

  void log(std::string_view message) {
    if (options_.log) options_.log(message);
  }
  base::Status listen_on(const tcp::endpoint& endpoint);
  base::Status listen_on_loopbacks();
  void accept_next(tcp::acceptor& acceptor);
  void on_accept(tcp::socket socket);
  void start_connection(tcp::socket socket);
  void refuse(tcp::socket socket);
  void connection_done(Connection* connection, bool session_ended);
  void shut_down(End end);

  Target& target_;
  ServerOptions options_;
  asio::io_context io_;
  std::vector<tcp::acceptor> acceptors_;  // one per address, all on port_
  uint16_t port_ = 0;
  std::shared_ptr<Connection> active_;
  std::optional<tcp::socket> waiting_;  // arrived while the previous client was going away
  bool stopping_ = false;
  End end_ = End::kStopped;
  // Runs every call into the target, for every client: one thread, for the server's life at
  // least (the target's owner may hand it one that lives longer).
  std::unique_ptr<TargetThread> own_thread_;
  TargetThread* target_thread_;
};

// One client: the socket, its Session and the write queue. Its resumes run on the server's
// target thread, whose stops come back to this event loop as posted completions.
class Server::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        session_(
            server.target_, [this](std::string_view bytes) { write(bytes); },
            [this](Session::Work work, std::stop_token stop) {
              launch(std::move(work), std::move(stop));
            },
            [&server](std::string_view message) { server.log(message); }) {}

  void start() { read(); }

  // The peer is gone (or the server stops): interrupt a running resume, close the socket.
  void close() {
    if (closed_) return;
    closed_ = true;
    session_.interrupt();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    maybe_done();
  }

  // True if this client is still there: not closed, and its peer hasn't hung up. POLLRDHUP
  // sees a hang-up even behind unread bytes (a truncated packet followed by a disconnect).
  bool alive() {
    if (closed_) return false;
    pollfd fd{socket_.native_handle(), POLLRDHUP, 0};
    if (::poll(&fd, 1, 0) == 1 && (fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      close();
      return false;
    }
    return true;
  }

 private:
  void read() {
    if (closed_) return;
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (ec) {
                                if (ec != asio::error::operation_aborted) {
                                  self->server_.log("client disconnected");
                                }
                                self->close();
                                return;
                              }
                              self->received_ = n;
                              self->fed_ = 0;
                              self->feed();
                            });
  }

  // Feeds the received bytes to the session, then reads more; pauses while the client leaves
  // too many replies unread (flush() resumes) or sends packets ahead of a busy one
  // (work_finished() resumes).
  void feed() {
    while (fed_ < received_ && !closed_ && !backlogged()) {
      const std::size_t n = std::min(kFeedSlice, received_ - fed_);
      const std::size_t taken = session_.receive(std::string_view(buffer_.data() + fed_, n));
      fed_ += taken;
      if (taken < n) break;  // packets wait behind a busy one: go on in work_finished()
    }
    maybe_done();
    paused_ = fed_ < received_ && !closed_;
    if (!paused_) read();
  }

  bool backlogged() const { return pending_.size() + in_flight_.size() > kMaxUnsentBytes; }

  void write(std::string_view bytes) {
    if (closed_) return;
    pending_.append(bytes);
    flush();
  }

  void flush() {
    if (writing_ || pending_.empty() || closed_) return;
    writing_ = true;
    in_flight_.swap(pending_);
    pending_.clear();
    asio::async_write(socket_, asio::buffer(in_flight_),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        self->writing_ = false;
                        self->in_flight_.clear();
                        if (ec) {
                          self->close();
                          return;
                        }
                        self->flush();
                        if (self->paused_ && !self->backlogged()) {
                          self->feed();
                        } else {
                          self->maybe_done();
                        }
                      });
  }

  void launch(Session::Work work, std::stop_token stop) {
    guard_.emplace(asio::make_work_guard(server_.io_));
    // The reference moves into the posted handler: the connection is never released (and its
    // socket closed) on the target thread.
    server_.target_thread_->run(
        std::move(work), std::move(stop), [self = shared_from_this()]() mutable {
          asio::io_context& io = self->server_.io_;
          asio::post(io, [self = std::move(self)] { self->work_finished(); });
        });
  }

  void work_finished() {
    guard_.reset();
    // Also when the client is gone: the session must learn the target has stopped (its
    // reply is dropped by write()).
    session_.packet_done();
    if (paused_ && !backlogged()) {
      feed();
    } else {
      maybe_done();
    }
  }

  // The connection is over when the peer left (and no resume is running), or when the session
  // ended and its last reply is flushed.
  void maybe_done() {
    if (done_ || session_.running()) return;
    if (session_.ended() && !closed_ && !writing_ && pending_.empty()) close();
    if (!closed_) return;
    done_ = true;
    server_.connection_done(this, session_.ended());
  }

  Impl& server_;
  tcp::socket socket_;
  Session session_;
  std::array<char, 4096> buffer_{};
  std::size_t received_ = 0;  // bytes in buffer_
  std::size_t fed_ = 0;       // of which the session has seen these
  bool paused_ = false;       // not reading: waiting for unsent replies to drain
  std::string pending_;
  std::string in_flight_;
  bool writing_ = false;
  bool closed_ = false;
  bool done_ = false;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
};

base::Status Server::Impl::listen() {
  if (options_.address.empty()) return listen_on_loopbacks();
  error_code ec;
  asio::ip::address address = asio::ip::make_address(options_.address, ec);
  if (ec && options_.address == "localhost") {
    // The address clients try first: the resolver's order (/etc/hosts, gai.conf).
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(options_.address, "", tcp::resolver::flags(), ec);
    if (!ec && !results.empty()) address = results.begin()->endpoint().address();
  }
  if (ec) return base::fail("bad listen address '" + options_.address + "': " + ec.message());
  return listen_on(tcp::endpoint(address, options_.port));
}

base::Status Server::Impl::listen_on(const tcp::endpoint& endpoint) {
  tcp::acceptor& acceptor = acceptors_.emplace_back(io_);
  if (error_code ec = open_acceptor(acceptor, endpoint)) {
    acceptors_.pop_back();
    return base::fail("cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
  }
  error_code ec;
  port_ = acceptor.local_endpoint(ec).port();
  if (ec) return base::fail("cannot read the listening port: " + ec.message());
  return {};
}

// 127.0.0.1 and ::1 on one port, so that a client reaches the server whichever address
// "localhost" resolves to first. Without IPv6 on the machine, 127.0.0.1 alone.
base::Status Server::Impl::listen_on_loopbacks() {
  const auto v4 = asio::ip::address_v4::loopback();
  const auto v6 = asio::ip::address_v6::loopback();
  for (int attempt = 0; attempt < kEphemeralPortAttempts; ++attempt) {
    if (auto status = listen_on(tcp::endpoint(v4, options_.port)); !status) return status;
    const tcp::endpoint second(v6, port_);
    tcp::acceptor acceptor(io_);
    const error_code ec = open_acceptor(acceptor, second);
    if (!ec) {
      acceptors_.push_back(std::move(acceptor));
      return {};
    }
    if (ipv6_unavailable(ec)) return {};
    if (ec != asio::error::address_in_use || options_.port != 0) {
      return base::fail("cannot listen on " + endpoint_text(second) + ": " + ec.message());
    }
    // The ephemeral port is taken on ::1 only: try another one.
    error_code ignored;
    acceptors_.back().close(ignored);
    acceptors_.pop_back();
  }
  return base::fail("cannot find a port free on both 127.0.0.1 and ::1");
}

std::vector<std::string> Server::Impl::endpoints() const {
  std::vector<std::string> out;
  for (const tcp::acceptor& acceptor : acceptors_) {
    error_code ec;
    const tcp::endpoint endpoint = acceptor.local_endpoint(ec);
    if (!ec) out.push_back(endpoint_text(endpoint));
  }
  return out;
}

base::Expected<Server::End> Server::Impl::run() {
  for (tcp::acceptor& acceptor : acceptors_) accept_next(acceptor);
  io_.run();
  return end_;
}

void Server::Impl::accept_next(tcp::acceptor& acceptor) {
  if (stopping_) return;
  acceptor.async_accept([this, &acceptor](error_code ec, tcp::socket socket) {
    if (stopping_) return;
    if (ec) {
      log("accept failed: " + ec.message());
    } else {
      on_accept(std::move(socket));
    }
    accept_next(acceptor);
  });
}

void Server::Impl::on_accept(tcp::socket socket) {
  // alive() notices a client that has hung up (and may release it at once).
  const bool busy = active_ && active_->alive();
  if (!active_) {
    start_connection(std::move(socket));
  } else if (!busy && !waiting_) {
    // The previous client has hung up but is still draining (interrupting its resume): this
    // one is served as soon as it is gone.
    waiting_.emplace(std::move(socket));
  } else {
    refuse(std::move(socket));
  }
}

void Server::Impl::start_connection(tcp::socket socket) {
  log("client connected");
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  active_ = std::make_shared<Connection>(*this, std::move(socket));
  active_->start();
}

void Server::Impl::refuse(tcp::socket socket) {
  log("second client refused: one debugger at a time");
  auto shared = std::make_shared<tcp::socket>(std::move(socket));
  asio::async_write(*shared, asio::buffer(kBusyReply.data(), kBusyReply.size()),
                    [shared](error_code, std::size_t) {
                      error_code ignored;
                      shared->shutdown(tcp::socket::shutdown_send, ignored);
                      shared->close(ignored);
                    });
}

void Server::Impl::connection_done(Connection* connection, bool session_ended) {
  if (active_.get() != connection) return;
  // Keep the connection alive until its current handler returns.
  asio::post(io_, [keep = std::move(active_)] {});
  active_.reset();
  if (session_ended) {
    log("session ended: the target has finished");
    shut_down(End::kTargetFinished);
    return;
  }
  if (waiting_ && !stopping_) {
    tcp::socket next = std::move(*waiting_);
    waiting_.reset();
    start_connection(std::move(next));
  }
}

void Server::Impl::shut_down(End end) {
  if (stopping_) return;
  stopping_ = true;
  end_ = end;
  error_code ignored;
  for (tcp::acceptor& acceptor : acceptors_) acceptor.close(ignored);
  if (waiting_) {
    waiting_->close(ignored);
    waiting_.reset();
  }
  if (active_) active_->close();
}

base::Expected<std::unique_ptr<Server>> Server::create(Target& target, ServerOptions options) {
  return create_on(target, nullptr, std::move(options));
}

base::Expected<std::unique_ptr<Server>> Server::create(Target& target, TargetThread& thread,
                                                       ServerOptions options) {
  return create_on(target, &thread, std::move(options));
}

base::Expected<std::unique_ptr<Server>> Server::create_on(Target& target, TargetThread* thread,
                                                          ServerOptions options) {
  auto impl = std::make_unique<Impl>(target, std::move(options), thread);
  base::Status status = impl->listen();
  if (!status) return base::fail(status.error().message);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
uint16_t Server::port() const {
  return impl_->port();
}
std::vector<std::string> Server::endpoints() const {
  return impl_->endpoints();
}
base::Expected<Server::End> Server::run() {
  return impl_->run();
}
void Server::stop() {
  impl_->stop();
}

}  // namespace hlrr::rsp
