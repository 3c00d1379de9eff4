#pragma once
// The control socket: a Unix stream socket, created 0666 (who may do what is decided per
// request by the caller's role, never by the file's mode), one JSON request per line.
//
// Limits, so that no client can hurt the others: a request over 1 MiB is answered with
// too_large and the connection closed; so is a connection idle for 30 s, or one that
// lets more than 4 MiB of replies pile up unread. Every request is checked against the
// method table (methods.hpp) before its handler runs.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

#include "daemon/control/methods.hpp"
#include "daemon/control/peer.hpp"
#include "daemon/control/protocol.hpp"
#include "daemon/control/roles.hpp"

namespace sekisho::control {

struct Caller {
  Peer peer;
  Role role = Role::None;
};

struct ServerLimits {
  std::size_t max_request = kMaxRequestBytes;
  std::size_t max_unread_replies = 4 * 1024 * 1024;
  std::chrono::milliseconds idle = std::chrono::seconds(30);
};

class ControlServer {
 public:
  // Runs an allowed request; throws ControlError to answer with an error.
  using Handler = std::function<nlohmann::json(const Request&, const Caller&)>;
  // Told of every request refused for the caller's role (to audit it).
  using OnRefused = std::function<void(const Caller&, const std::string& method)>;
  // The role groups, looked up per connection.
  using RoleGroupsSource = std::function<RoleGroups()>;

  ControlServer(boost::asio::io_context& io, std::string path, Handler handler,
                OnRefused on_refused, RoleGroupsSource role_groups, ServerLimits limits = {});
  ~ControlServer();

  // Removes a stale socket file, binds, sets the mode, listens.
  std::error_code start();

 private:
  class Session;
  void accept();

  boost::asio::io_context& io_;
  std::string path_;
  Handler handler_;
  OnRefused on_refused_;
  RoleGroupsSource role_groups_;
  ServerLimits limits_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace sekisho::control
