#include "rsp/server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "rsp/session.h"

namespace hlrr::rsp {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

// Sent to a client that connects while another one is being served.
constexpr std::string_view kBusyReply = "$E01#a6";

// Unsent reply bytes beyond which we stop reading a client until they drain: one that sends
// requests and never reads the replies must not grow the server without bound.
constexpr std::size_t kMaxUnsentBytes = 1 << 20;
// Received bytes go to the session in slices this small, so one read full of small requests
// with large replies (`m0,1ff0`: 12 bytes in, 16 KiB out) overshoots the bound by little.
constexpr std::size_t kFeedSlice = 64;

}  // namespace

class Server::Impl {
 public:
  Impl(Target& target, ServerOptions options)
      : target_(target), options_(std::move(options)), acceptor_(io_) {}

  base::Status listen();
  uint16_t port() const { return port_; }
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
  void accept_next();
  void on_accept(tcp::socket socket);
  void start_connection(tcp::socket socket);
  void refuse(tcp::socket socket);
  void connection_done(Connection* connection, bool session_ended);
  void shut_down(End end);

  Target& target_;
  ServerOptions options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::shared_ptr<Connection> active_;
  std::optional<tcp::socket> waiting_;  // arrived while the previous client was going away
  bool stopping_ = false;
  End end_ = End::kStopped;
};

// One client: the socket, its Session, the write queue and the resume worker.
class Server::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        session_(
            server.target_, [this](std::string_view bytes) { write(bytes); },
            [this](ResumeJob job, std::stop_token stop) {
              launch(std::move(job), std::move(stop));
            },
            [&server](std::string_view message) { server.log(message); }) {}

  ~Connection() {
    if (worker_.joinable()) worker_.join();
  }

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

  // Feeds the received bytes to the session, then reads more; pauses (flush() resumes) while
  // the client leaves too many replies unread.
  void feed() {
    while (fed_ < received_ && !closed_ && !backlogged()) {
      const std::size_t n = std::min(kFeedSlice, received_ - fed_);
      session_.receive(std::string_view(buffer_.data() + fed_, n));
      fed_ += n;
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

  void launch(ResumeJob job, std::stop_token stop) {
    guard_.emplace(asio::make_work_guard(server_.io_));
    if (worker_.joinable()) worker_.join();
    worker_ = std::thread([self = shared_from_this(), job = std::move(job), stop]() mutable {
      StopInfo info = job(std::move(stop));
      asio::post(self->server_.io_, [self, info] { self->resume_finished(info); });
    });
  }

  void resume_finished(const StopInfo& info) {
    worker_.join();
    guard_.reset();
    // Also when the client is gone: the session must learn the target has stopped (its
    // reply is dropped by write()).
    session_.resume_done(info);
    maybe_done();
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
  std::thread worker_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
};

base::Status Server::Impl::listen() {
  error_code ec;
  asio::ip::address address = asio::ip::make_address(options_.address, ec);
  if (ec) return base::fail("bad listen address '" + options_.address + "': " + ec.message());
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return base::fail("cannot listen on " + options_.address + ":" + std::to_string(options_.port) +
                      ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return base::fail("cannot read the listening port: " + ec.message());
  return {};
}

base::Expected<Server::End> Server::Impl::run() {
  accept_next();
  io_.run();
  return end_;
}

void Server::Impl::accept_next() {
  if (stopping_) return;
  acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
    if (stopping_) return;
    if (ec) {
      log("accept failed: " + ec.message());
    } else {
      on_accept(std::move(socket));
    }
    accept_next();
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
  acceptor_.close(ignored);
  if (waiting_) {
    waiting_->close(ignored);
    waiting_.reset();
  }
  if (active_) active_->close();
}

base::Expected<std::unique_ptr<Server>> Server::create(Target& target, ServerOptions options) {
  auto impl = std::make_unique<Impl>(target, std::move(options));
  base::Status status = impl->listen();
  if (!status) return base::fail(status.error().message);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
uint16_t Server::port() const {
  return impl_->port();
}
base::Expected<Server::End> Server::run() {
  return impl_->run();
}
void Server::stop() {
  impl_->stop();
}

}  // namespace hlrr::rsp
