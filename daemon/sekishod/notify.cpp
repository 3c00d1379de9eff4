#include "daemon/sekishod/notify.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

namespace sekisho::daemon {

namespace {

// sd_notify() opens a socket for every message: with no descriptor free (a local user's
// flood of connections, say) that fails, and a watchdog keep-alive that fails gets the
// daemon killed. So one socket, opened with the first message (at start) and kept, sends
// them all; sd_notify() only what it cannot (an address form other than a path or an
// abstract name).
class Notifier {
 public:
  bool send(std::string_view message) {
    if (fd_ == kNotTried) {
      open();
    }
    return fd_ >= 0 && ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address_),
                                length_) == static_cast<ssize_t>(message.size());
  }

 private:
  static constexpr int kNotTried = -2;
  static constexpr int kUnusable = -1;

  void open() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    const std::size_t size = path ? std::strlen(path) : 0;
    if (size < 2 || size >= sizeof address_.sun_path || (path[0] != '/' && path[0] != '@')) {
      fd_ = kUnusable;
      return;
    }
    address_.sun_family = AF_UNIX;
    std::memcpy(address_.sun_path, path, size);
    if (path[0] == '@') {
      address_.sun_path[0] = '\0';  // an abstract name: no terminating NUL counts
      length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + size);
    } else {
      length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + size + 1);
    }
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    fd_ = fd >= 0 ? fd : kNotTried;  // no descriptor now: try again with the next message
  }

  int fd_ = kNotTried;
  sockaddr_un address_{};
  socklen_t length_ = 0;
};

void notify(const std::string& message) {
  static Notifier notifier;
  if (!notifier.send(message)) {
    sd_notify(0, message.c_str());
  }
}

}  // namespace

void notify_ready(std::string_view status) {
  notify("READY=1\nSTATUS=" + std::string(status));
}

void notify_status(std::string_view status) {
  notify("STATUS=" + std::string(status));
}

void notify_stopping() {
  notify("STOPPING=1");
}

void notify_watchdog() {
  notify("WATCHDOG=1");
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
    return std::nullopt;
  }
  return std::chrono::microseconds(usec / 2);
}

}  // namespace sekisho::daemon
