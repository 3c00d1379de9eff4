#include "daemon/sekishoctl/client.hpp"

#include <cerrno>
#include <cstring>
#include <optional>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/fd.hpp"

namespace sekisho::ctl {

namespace {

Reply unreachable(const std::string& path, const std::string& why) {
  return Reply{kExitUnavailable, nullptr, "unreachable",
               "sekishod is not reachable at " + path + ": " + why +
                   " (is it running? --control or $SEKISHO_CONTROL name another socket)",
               nullptr};
}

int exit_code_of(const std::string& code, const nlohmann::json& data) {
  if (code == "forbidden")
    return kExitForbidden;
  if (code == "too_many_connections")
    return kExitUnavailable;  // it answered, but serves no more connections for now
  if (code == "audit_unavailable")
    return kExitAuditDown;
  if (code == "invalid" && data.is_object() && data.contains("diagnostics"))
    return kExitConfig;  // the policy sent was invalid: 78, as `check` says
  return kExitInvalid;   // invalid, not_found, conflict, too_large
}

}  // namespace

namespace {

// Connects `socket_fd` (a new Unix stream socket) to `control_path` and sends the request;
// nullopt, or the reply saying why not.
std::optional<Reply> send_request(const Fd& socket_fd, const std::string& control_path,
                                  const std::string& method, const nlohmann::json& params) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (control_path.size() >= sizeof address.sun_path) {
    return unreachable(control_path, "the path is too long for a socket");
  }
  std::memcpy(address.sun_path, control_path.c_str(), control_path.size() + 1);
  if (socket_fd.get() < 0 ||
      ::connect(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    return unreachable(control_path, std::strerror(errno));
  }
  const std::string request =
      nlohmann::json{{"id", 1}, {"method", method}, {"params", params}}.dump() + "\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n =
        ::send(socket_fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      // A connection over the daemon's caps is answered and closed before it reads the
      // request: the answer may be waiting.
      if (errno != EPIPE && errno != ECONNRESET) {
        return unreachable(control_path, std::strerror(errno));
      }
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  return std::nullopt;
}

// The next line from the daemon (without its newline) into `line`, keeping what follows it
// in `pending`; a reply saying why not. `timeout_seconds` < 0 waits for ever.
std::optional<Reply> read_line(int fd, const std::string& control_path, int timeout_seconds,
                               std::string& pending, std::string& line) {
  char buffer[65536];
  while (pending.find('\n') == std::string::npos) {
    pollfd ready{fd, POLLIN, 0};
    const int polled = ::poll(&ready, 1, timeout_seconds < 0 ? -1 : timeout_seconds * 1000);
    if (polled == 0) {
      return unreachable(control_path,
                         "no answer within " + std::to_string(timeout_seconds) + " s");
    }
    const ssize_t n = polled < 0 ? -1 : ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      return unreachable(control_path, n == 0 ? "the daemon closed the connection"
                                              : std::string(std::strerror(errno)));
    }
    pending.append(buffer, static_cast<std::size_t>(n));
  }
  const std::size_t end = pending.find('\n');
  line = pending.substr(0, end);
  pending.erase(0, end + 1);
  return std::nullopt;
}

Reply reply_of(const nlohmann::json& reply) {
  if (reply["ok"] == true) {
    return Reply{kExitOk, reply.value("result", nlohmann::json()), "", "", nullptr};
  }
  const nlohmann::json error = reply.value("error", nlohmann::json::object());
  const std::string code = error.value("code", "invalid");
  nlohmann::json data = error.value("data", nlohmann::json());
  return Reply{exit_code_of(code, data), nullptr, code, error.value("message", ""),
               std::move(data)};
}

std::optional<nlohmann::json> parse_reply(const std::string& line) {
  nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok")) {
    return std::nullopt;
  }
  return reply;
}

Reply not_json() {
  return Reply{kExitUnavailable, nullptr, "unreachable", "the daemon's reply is not JSON", nullptr};
}

}  // namespace

Reply call(const std::string& control_path, const std::string& method, const nlohmann::json& params,
           int timeout_seconds) {
  const Fd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (auto failed = send_request(socket_fd, control_path, method, params)) {
    return std::move(*failed);
  }
  std::string pending;
  std::string line;
  if (auto failed = read_line(socket_fd.get(), control_path, timeout_seconds, pending, line)) {
    return std::move(*failed);
  }
  std::optional<nlohmann::json> reply = parse_reply(line);
  return reply ? reply_of(*reply) : not_json();
}

Reply follow(const std::string& control_path, const std::string& method,
             const nlohmann::json& params, const std::function<bool(const nlohmann::json&)>& item) {
  const Fd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (auto failed = send_request(socket_fd, control_path, method, params)) {
    return std::move(*failed);
  }
  std::string pending;
  std::string line;
  while (true) {
    if (auto failed = read_line(socket_fd.get(), control_path, -1, pending, line)) {
      return std::move(*failed);
    }
    std::optional<nlohmann::json> reply = parse_reply(line);
    if (!reply) {
      return not_json();
    }
    if (reply->value("more", false) != true || (*reply)["ok"] != true) {
      return reply_of(*reply);
    }
    if (!item(reply->value("result", nlohmann::json()))) {
      return Reply{kExitOk, nullptr, "", "", nullptr};
    }
  }
}

void print_error(std::ostream& err, const std::string& command, const Reply& reply) {
  if (reply.data.is_object() && reply.data.contains("diagnostics")) {
    for (const nlohmann::json& line : reply.data["diagnostics"]) {
      if (line.is_string()) {
        err << line.get<std::string>() << '\n';
      }
    }
  }
  err << "sekishoctl " << command << ": " << reply.error_code << ": " << reply.message << '\n';
}

}  // namespace sekisho::ctl
