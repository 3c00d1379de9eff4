#pragma once
// The control socket: a Unix stream socket, created 0666 (who may do what is decided per
// request by the caller's role, never by the file's mode), one JSON request per line.
//
// Limits, so that no client can hurt the others (the socket is open to every local user):
// - Connections: capped by role (admission.hpp): callers without a role share 32, a uid
//   with a role holds at most 32, and all together 512, with 32 more for operators and
//   admins and 32 more beyond those for uid 0 and admins, so that an operator's `link down`
//   and root's `status` get in while others hold every other slot. A connection over a
//   cap is accepted, answered with too_many_connections and closed at once (accepting goes
//   on: a refused client must not stay queued in front of root). Together the caps bound
//   the descriptors the socket can take, far below the daemon's limit.
// - A request over 1 MiB is answered with too_large and the connection closed; so is a
//   connection without a complete request for 30 s (empty lines and a trickle of bytes do
//   not count), or one that lets more than 4 MiB of replies pile up unread.
// - accept() failing for want of descriptors or memory is retried after a pause, not at
//   once (that would spin), and logged once until it works again.
// Every request is checked against the method table (methods.hpp) and the caller's role
// as the group database says at that request, before its handler runs. A connection's
// requests are answered in order, one at a time.

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "daemon/control/admission.hpp"
#include "daemon/control/methods.hpp"
#include "daemon/control/peer.hpp"
#include "daemon/control/protocol.hpp"
#include "daemon/control/roles.hpp"

namespace sekisho::control {

struct Caller {
  Peer peer;               // pid and uid, as the kernel gave them at connect
  std::string user;        // the uid's name now (or its number)
  Role role = Role::None;  // as the group database says at this request
};

struct ServerLimits {
  std::size_t max_request = kMaxRequestBytes;
  std::size_t max_unread_replies = 4 * 1024 * 1024;
  std::chrono::milliseconds idle = std::chrono::seconds(30);
  ConnectionCaps caps;
  std::chrono::milliseconds accept_pause = std::chrono::milliseconds(100);
  // Who a connecting uid is (for its cap) is looked up at most this often per uid: a flood
  // of connections must not cost a user-database lookup each.
  std::chrono::milliseconds identity_fresh_for = std::chrono::seconds(1);
};

class MethodTable;

class ControlServer {
 private:
  class Session;

 public:
  // The reply to a request that a handler answers later (MethodTable::Handler). Only on the
  // loop's thread; the first answer counts, and one to a closed connection is dropped.
  // The connection reads no further request until it is answered.
  //
  // A subscription (a stream) calls stream() in its handler, then answers with more() as
  // often as it has something: each item is a reply with "more": true, and the
  // connection is held for the stream, exempt from the idle limit (it still counts in the
  // connection caps), until the client closes it (or ok()/fail() ends it, after which the
  // connection closes). A client that does not read its items is cut off at
  // ServerLimits::max_unread_replies, and one whose role no longer allows the method at
  // an item (looked up as for connections, at most identity_fresh_for old). The holder of a stream
  // drops it once open() says false.
  class Later {
   public:
    void ok(const nlohmann::json& result) const;
    // `error`: a ControlError, or another exception (answered as invalid and logged).
    void fail(std::exception_ptr error) const;
    // Makes the answer a stream: from now on the client's leaving is noticed (open()
    // turns false) even before the first item. more() does it too.
    void stream() const;
    void more(const nlohmann::json& item) const;
    // Whether the connection still waits for this answer (false once it closed).
    bool open() const;

   private:
    friend class ControlServer;
    boost::asio::io_context* io_ = nullptr;
    std::shared_ptr<Session> session_;
    nlohmann::json id_;
    std::uint64_t number_ = 0;  // which of the connection's requests
  };

  // Told of every request refused for the caller's role (to audit it).
  using OnRefused = std::function<void(const Caller&, const std::string& method)>;
  // Told of every connection refused over a cap (to count it).
  using OnConnectionRefused = std::function<void(const Caller&, ConnectionCap)>;
  // Who a uid is now: looked up at each request, and (cached) at connect.
  using IdentitySource = control::IdentitySource;

  // `methods`: which methods exist, the least role of each and the handler that answers
  // it (outlives the server).
  ControlServer(boost::asio::io_context& io, std::string path, const MethodTable& methods,
                OnRefused on_refused, OnConnectionRefused on_connection_refused,
                IdentitySource identify = identity_of, ServerLimits limits = {});
  ~ControlServer();

  // Removes a stale socket file, binds, sets the mode, listens.
  std::error_code start();

 private:
  void accept();
  void admit(boost::asio::local::stream_protocol::socket socket);
  void refuse(boost::asio::local::stream_protocol::socket socket, const Caller& caller,
              ConnectionCap cap);

  boost::asio::io_context& io_;
  std::string path_;
  const MethodTable& methods_;
  OnRefused on_refused_;
  OnConnectionRefused on_connection_refused_;
  IdentitySource identify_;
  ServerLimits limits_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer accept_pause_;
  bool accept_failing_ = false;  // said once per episode
  // Shared with each Session, which gives its slot back when it goes (it may outlive the
  // server).
  std::shared_ptr<ConnectionSlots> slots_;
  IdentityCache identities_;
};

}  // namespace sekisho::control
