#include "daemon/control/server.hpp"

#include <deque>
#include <istream>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/log.hpp"

namespace sekisho::control {

namespace asio = boost::asio;
using boost::system::error_code;

class ControlServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ControlServer& server, asio::local::stream_protocol::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        input_(server.limits_.max_request + 1),
        idle_(server.io_) {}

  void start() {
    if (std::error_code error = peer_of(socket_.native_handle(), caller_.peer)) {
      log_warning("control: cannot identify a client: " + error.message());
      return;
    }
    caller_.role = role_of(caller_.peer.uid, caller_.peer.groups, server_.role_groups_());
    read();
  }

 private:
  void read() {
    idle_.expires_after(server_.limits_.idle);
    idle_.async_wait([self = shared_from_this()](const error_code& error) {
      if (!error) {
        self->close();  // idle too long
      }
    });
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
    send(answer(line));
    if (!closed_) {
      read();
    }
  }

  std::string answer(const std::string& line) {
    nlohmann::json id;
    try {
      Request request = parse_request(line, id);
      const MethodInfo* method = find_method(request.method);
      if (!method) {
        throw ControlError(ErrorCode::NotFound, "no method '" + request.method + "'");
      }
      if (caller_.role < method->least_role) {
        server_.on_refused_(caller_, request.method);
        throw ControlError(ErrorCode::Forbidden, request.method + " needs the " +
                                                     std::string(role_name(method->least_role)) +
                                                     " role; " + caller_.peer.user + " has " +
                                                     std::string(role_name(caller_.role)));
      }
      return reply_ok(id, server_.handler_(request, caller_));
    } catch (const ControlError& error) {
      return reply_error(id, error.code(), error.what(), error.data());
    } catch (const std::exception& error) {
      log_error(std::string("control: ") + error.what());
      return reply_error(id, ErrorCode::Invalid, error.what());
    }
  }

  void send(std::string reply) {
    unread_ += reply.size();
    if (unread_ > server_.limits_.max_unread_replies) {
      log_warning("control: closing the connection of " + caller_.peer.user + " (pid " +
                  std::to_string(caller_.peer.pid) + "): it does not read its replies");
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
  Caller caller_;
  std::deque<std::string> output_;
  std::size_t unread_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
};

ControlServer::ControlServer(asio::io_context& io, std::string path, Handler handler,
                             OnRefused on_refused, RoleGroupsSource role_groups,
                             ServerLimits limits)
    : io_(io),
      path_(std::move(path)),
      handler_(std::move(handler)),
      on_refused_(std::move(on_refused)),
      role_groups_(std::move(role_groups)),
      limits_(limits),
      acceptor_(io) {}

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
    if (!error) {
      std::make_shared<Session>(*this, std::move(s))->start();
    }
    accept();
  });
}

}  // namespace sekisho::control
