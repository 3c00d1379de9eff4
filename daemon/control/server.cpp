#include "daemon/control/server.hpp"

#include <cerrno>
#include <deque>

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/log.hpp"
#include "daemon/control/method_table.hpp"

namespace sekisho::control {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The error reply for what a handler threw.
std::string error_reply(const nlohmann::json& id, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const ControlError& refused) {
    return reply_error(id, refused.code(), refused.what(), refused.data());
  } catch (const std::exception& failed) {
    log_error(std::string("control: ") + failed.what());
    return reply_error(id, ErrorCode::Invalid, failed.what());
  } catch (...) {
    log_error("control: a handler threw something that is not an exception");
    return reply_error(id, ErrorCode::Invalid, "internal error");
  }
}

// accept() failed for want of a resource that comes back by itself (another connection
// closing frees a descriptor): trying again at once would only spin.
bool out_of_resources(const error_code& error) {
  if (error.category() != boost::system::system_category()) {
    return false;
  }
  const int value = error.value();
  return value == EMFILE || value == ENFILE || value == ENOBUFS || value == ENOMEM;
}

}  // namespace

class ControlServer::Session : public std::enable_shared_from_this<Session> {
 public:
  // `caller`: as admitted, in the slot taken for its uid and role.
  Session(ControlServer& server, asio::local::stream_protocol::socket socket, const Caller& caller)
      : server_(server),
        socket_(std::move(socket)),
        input_(server.limits_.max_request + 1),
        idle_(server.io_),
        slots_(server.slots_),
        caller_(caller),
        admitted_as_(caller.role) {}

  ~Session() { slots_->give_back(caller_.peer.uid, admitted_as_); }

  void start() {
    arm_idle();
    read();
  }

  // The answer to request `number`, from Later (posted: never inside the handler's call).
  // After a stream the connection closes: its reads were given to noticing the client go.
  void finish(std::uint64_t number, std::string reply) {
    if (closed_ || number != answering_) {
      return;
    }
    answering_ = 0;
    send(std::move(reply));
    if (streaming_) {
      close_after_write_ = true;
      if (!writing_) {
        close();
      }
    } else if (!closed_) {
      arm_idle();
      read();
    }
  }

  // The answer to request `number` is a stream (Later::stream, Later::more).
  void start_stream(std::uint64_t number) {
    if (closed_ || number != answering_ || streaming_) {
      return;
    }
    streaming_ = true;
    watch_for_hangup();
  }

  // An item of the stream answering request `number` (Later::more). A stream lasts: the
  // caller's role is looked at again (as cached for connections) at each item, and one
  // who lost it is cut off.
  void more(std::uint64_t number, std::string item) {
    if (closed_ || number != answering_) {
      return;
    }
    if (server_.identities_.of(caller_.peer.uid, std::chrono::steady_clock::now()).role <
        answering_role_) {
      close();
      return;
    }
    start_stream(number);
    send(std::move(item));
  }

  bool waits_for(std::uint64_t number) const { return !closed_ && number == answering_; }

 private:
  // The idle limit counts from the last complete request answered, so that an empty line
  // or a byte now and then does not keep a connection (and its descriptor) forever.
  void arm_idle() {
    idle_.expires_after(server_.limits_.idle);
    idle_.async_wait([self = shared_from_this()](const error_code& error) {
      // An expiry already queued when a request came in is not cancelled by cancel(): the
      // connection is idle only when no answer is pending and the timer was not re-armed.
      if (!error && self->answering_ == 0 &&
          self->idle_.expiry() <= std::chrono::steady_clock::now()) {
        self->close();  // idle too long
      }
    });
  }

  // While a stream runs the client has nothing to say: anything it sends, and its end of
  // the connection closing, end the stream.
  void watch_for_hangup() {
    socket_.async_wait(asio::socket_base::wait_read,
                       [self = shared_from_this()](const error_code&) { self->close(); });
  }

  void read() {
    asio::async_read_until(socket_, input_, '\n',
                           [self = shared_from_this()](const error_code& error, std::size_t n) {
                             self->on_read(error, n);
                           });
  }

  void on_read(const error_code& error, std::size_t length) {
    if (closed_) {
      return;
    }
    if (error == asio::error::not_found) {
      // The buffer filled without a newline: the request is over the limit.
      send(reply_error(
          nullptr, ErrorCode::TooLarge,
          "a request may hold at most " + std::to_string(server_.limits_.max_request) + " bytes"));
      close_after_write_ = true;
      return;
    }
    if (error) {
      close();
      return;
    }
    std::string line(asio::buffers_begin(input_.data()),
                     asio::buffers_begin(input_.data()) + static_cast<std::ptrdiff_t>(length));
    input_.consume(length);
    line.pop_back();  // the newline
    bool complete = false;
    std::optional<std::string> reply = answer(line, complete);
    if (!reply) {
      // Answered later: no idle limit and no further request until then.
      idle_.cancel();
      return;
    }
    send(std::move(*reply));
    if (complete) {
      arm_idle();
    }
    if (!closed_) {
      read();
    }
  }

  // The reply to `line`, or nullopt when the handler answers it later. `complete`: the line
  // was a request (well-formed, whatever its fate), not garbage or an empty line.
  std::optional<std::string> answer(const std::string& line, bool& complete) {
    nlohmann::json id;
    try {
      Request request = parse_request(line, id);
      complete = true;
      const MethodTable::Entry* method = server_.methods_.find(request.method);
      if (!method) {
        throw ControlError(ErrorCode::NotFound, "no method '" + request.method + "'");
      }
      // The role as the group database says now, not as it was at connect.
      Identity who = server_.identify_(caller_.peer.uid);
      caller_.user = std::move(who.user);
      caller_.role = who.role;
      if (caller_.role < method->info->least_role) {
        server_.on_refused_(caller_, request.method);
        throw ControlError(ErrorCode::Forbidden,
                           request.method + " needs the " +
                               std::string(role_name(method->info->least_role)) + " role; " +
                               caller_.user + " has " + std::string(role_name(caller_.role)));
      }
      Later later;
      later.io_ = &server_.io_;
      later.session_ = shared_from_this();
      later.id_ = id;
      later.number_ = ++requests_;
      answering_ = later.number_;
      answering_role_ = method->info->least_role;
      std::optional<nlohmann::json> result = method->handler({request, caller_, later});
      if (!result) {
        return std::nullopt;
      }
      answering_ = 0;
      return reply_ok(id, *result);
    } catch (...) {
      answering_ = 0;
      return error_reply(id, std::current_exception());
    }
  }

  void send(std::string reply) {
    unread_ += reply.size();
    if (unread_ > server_.limits_.max_unread_replies) {
      log_warning("control: closing the connection of " + caller_.user + " (uid " +
                  std::to_string(caller_.peer.uid) + ", pid " + std::to_string(caller_.peer.pid) +
                  "): it does not read its replies");
      close();
      return;
    }
    output_.push_back(std::move(reply));
    if (!writing_) {
      write_next();
    }
  }

  void write_next() {
    if (output_.empty() || closed_) {
      writing_ = false;
      if (close_after_write_) {
        close();
      }
      return;
    }
    writing_ = true;
    asio::async_write(socket_, asio::buffer(output_.front()),
                      [self = shared_from_this()](const error_code& error, std::size_t n) {
                        self->unread_ -= n;
                        self->output_.pop_front();
                        if (error) {
                          self->close();
                          return;
                        }
                        self->write_next();
                      });
  }

  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    error_code ignored;
    idle_.cancel();
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
  }

  ControlServer& server_;
  asio::local::stream_protocol::socket socket_;
  asio::streambuf input_;
  asio::steady_timer idle_;
  std::shared_ptr<ConnectionSlots> slots_;
  Caller caller_;
  Role admitted_as_;  // the role its slot was taken for
  std::deque<std::string> output_;
  std::size_t unread_ = 0;
  std::uint64_t requests_ = 0;   // numbered, so that a late answer finds its request
  std::uint64_t answering_ = 0;  // the request a handler answers later; 0: none
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
  bool streaming_ = false;            // answering_ is a stream (Later::more)
  Role answering_role_ = Role::None;  // the least role of answering_'s method
};

void ControlServer::Later::ok(const nlohmann::json& result) const {
  asio::post(*io_, [session = session_, number = number_, reply = reply_ok(id_, result)]() mutable {
    session->finish(number, std::move(reply));
  });
}

void ControlServer::Later::fail(std::exception_ptr error) const {
  asio::post(*io_,
             [session = session_, number = number_, reply = error_reply(id_, error)]() mutable {
               session->finish(number, std::move(reply));
             });
}

void ControlServer::Later::more(const nlohmann::json& item) const {
  asio::post(*io_, [session = session_, number = number_, reply = reply_more(id_, item)]() mutable {
    session->more(number, std::move(reply));
  });
}

void ControlServer::Later::stream() const {
  if (session_) {
    session_->start_stream(number_);  // on the loop, where handlers run: no need to post
  }
}

bool ControlServer::Later::open() const {
  return session_ && session_->waits_for(number_);
}

ControlServer::ControlServer(asio::io_context& io, std::string path, const MethodTable& methods,
                             OnRefused on_refused, OnConnectionRefused on_connection_refused,
                             IdentitySource identify, ServerLimits limits)
    : io_(io),
      path_(std::move(path)),
      methods_(methods),
      on_refused_(std::move(on_refused)),
      on_connection_refused_(std::move(on_connection_refused)),
      identify_(std::move(identify)),
      limits_(limits),
      acceptor_(io),
      accept_pause_(io),
      slots_(std::make_shared<ConnectionSlots>(limits.caps)),
      identities_(identify_, limits.identity_fresh_for) {}

ControlServer::~ControlServer() {
  error_code ignored;
  if (acceptor_.is_open()) {
    acceptor_.close(ignored);
    ::unlink(path_.c_str());
  }
}

std::error_code ControlServer::start() {
  // A socket file left by a daemon that died; a live daemon's would answer, but two
  // daemons on one socket is a mistake the second one's bind would hide.
  ::unlink(path_.c_str());
  error_code error;
  asio::local::stream_protocol::endpoint endpoint(path_);
  acceptor_.open(endpoint.protocol(), error);
  if (!error)
    acceptor_.bind(endpoint, error);
  if (!error && ::chmod(path_.c_str(), 0666) < 0) {
    return std::error_code(errno, std::generic_category());
  }
  if (!error)
    acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return std::error_code(error.value(), std::generic_category());
  }
  accept();
  return {};
}

void ControlServer::accept() {
  acceptor_.async_accept([this](const error_code& error, asio::local::stream_protocol::socket s) {
    if (error == asio::error::operation_aborted) {
      return;
    }
    if (out_of_resources(error)) {
      if (!accept_failing_) {
        accept_failing_ = true;
        log_warning("control: cannot accept connections: " + error.message() +
                    "; trying again every " + std::to_string(limits_.accept_pause.count()) + " ms");
      }
      accept_pause_.expires_after(limits_.accept_pause);
      accept_pause_.async_wait([this](const error_code& cancelled) {
        if (!cancelled) {
          accept();
        }
      });
      return;
    }
    if (!error) {
      if (accept_failing_) {
        accept_failing_ = false;
        log_notice("control: accepting connections again");
      }
      admit(std::move(s));
    }
    accept();
  });
}

void ControlServer::admit(asio::local::stream_protocol::socket socket) {
  Caller caller;
  if (std::error_code error = peer_of(socket.native_handle(), caller.peer)) {
    log_warning("control: cannot identify a client: " + error.message());
    return;
  }
  // Its role decides its cap; each request looks the role up again.
  const Identity& who = identities_.of(caller.peer.uid, std::chrono::steady_clock::now());
  caller.user = who.user;
  caller.role = who.role;
  if (std::optional<ConnectionCap> cap = slots_->take(caller.peer.uid, caller.role)) {
    refuse(std::move(socket), caller, *cap);
    return;
  }
  std::make_shared<Session>(*this, std::move(socket), caller)->start();
}

void ControlServer::refuse(asio::local::stream_protocol::socket socket, const Caller& caller,
                           ConnectionCap cap) {
  const ConnectionSlots& slots = *slots_;
  std::string message;
  switch (cap) {
    case ConnectionCap::PerUid:
      message = caller.user + " (uid " + std::to_string(caller.peer.uid) + ") holds " +
                std::to_string(slots.held_by(caller.peer.uid)) +
                " connections, the most one user may; close one first";
      break;
    case ConnectionCap::WithoutRole:
      message = "callers without a role hold " + std::to_string(slots.without_role()) +
                " connections, the most they may together; " + caller.user + " (uid " +
                std::to_string(caller.peer.uid) +
                ") has no role (sekisho-viewer, sekisho-operator or sekisho-admin)";
      break;
    case ConnectionCap::All:
      message = "sekishod serves " + std::to_string(slots.open()) +
                " connections, as many as it may; try again later";
      break;
  }
  // The socket's buffer is empty: a line this short fits at once, or is dropped.
  const std::string line = reply_error(nullptr, ErrorCode::TooManyConnections, message);
  [[maybe_unused]] const ssize_t sent =
      ::send(socket.native_handle(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  error_code ignored;
  socket.shutdown(asio::socket_base::shutdown_both, ignored);
  socket.close(ignored);
  on_connection_refused_(caller, cap);
}

}  // namespace sekisho::control
