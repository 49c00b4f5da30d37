#include "cli/live_session.h"

#include <utility>

namespace hlrr::cli {

LiveSession::LiveSession(vmm::Sandbox& sandbox, std::string function, std::vector<vmm::Value> args,
                         std::string guest_path)
    : target_(sandbox, std::move(function), std::move(args), std::move(guest_path)) {}

base::Expected<std::unique_ptr<LiveSession>> LiveSession::create(vmm::Sandbox& sandbox,
                                                                 std::string function,
                                                                 std::vector<vmm::Value> args,
                                                                 std::string guest_path,
                                                                 rsp::ServerOptions options) {
  std::unique_ptr<LiveSession> session(
      new LiveSession(sandbox, std::move(function), std::move(args), std::move(guest_path)));
  auto server = rsp::Server::create(session->target_, session->thread_, std::move(options));
  if (!server) return base::Unexpected(std::move(server).error());
  session->server_ = std::move(*server);
  return session;
}

base::Status LiveSession::run() {
  if (auto end = server_->run(); !end) return base::Unexpected(std::move(end).error());
  // After a detach; at once when it already ended.
  if (!target_.killed()) thread_.call([this] { target_.run_to_end(); });
  return {};
}

}  // namespace hlrr::cli
