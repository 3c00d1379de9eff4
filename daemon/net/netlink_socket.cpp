#include "daemon/net/netlink_socket.hpp"

#include <cerrno>

#include <sys/socket.h>
#include <sys/time.h>

namespace sekisho::net {
namespace {

// errno as an error code; EIO when a libmnl call failed without setting it.
std::error_code last_error() {
  return {errno != 0 ? errno : EIO, std::system_category()};
}

}  // namespace

std::error_code NetlinkSocket::open(int bus, std::chrono::seconds timeout) {
  socket_.reset(mnl_socket_open2(bus, SOCK_CLOEXEC));
  if (!socket_) {
    return last_error();
  }
  timeval wait{static_cast<time_t>(timeout.count()), 0};
  if (::setsockopt(mnl_socket_get_fd(socket_.get()), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait) !=
          0 ||
      mnl_socket_bind(socket_.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return last_error();
  }
  return {};
}

std::error_code NetlinkSocket::send(const void* message, std::size_t size) {
  if (mnl_socket_sendto(socket_.get(), message, size) < 0) {
    return last_error();
  }
  return {};
}

std::error_code NetlinkSocket::receive(std::vector<std::uint8_t>& datagram) {
  datagram.resize(kReceiveSize);
  for (;;) {
    const ssize_t received = mnl_socket_recvfrom(socket_.get(), datagram.data(), datagram.size());
    if (received >= 0) {
      datagram.resize(static_cast<std::size_t>(received));
      return {};
    }
    // SO_RCVTIMEO waits are not restarted after a signal; the answer is still coming.
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return std::make_error_code(std::errc::timed_out);
    }
    return last_error();
  }
}

std::error_code NetlinkSocket::run_until_stop(std::uint32_t seq, mnl_cb_t on_message, void* data,
                                              mnl_cb_t* control, unsigned control_length) {
  std::vector<std::uint8_t> datagram;
  for (;;) {
    if (std::error_code error = receive(datagram)) {
      return error;
    }
    errno = 0;
    // mnl_cb_run2 checks that each answer carries our port id and `seq`.
    const int result = mnl_cb_run2(datagram.data(), datagram.size(), seq, port(), on_message, data,
                                   control, control_length);
    if (result == MNL_CB_ERROR) {
      return last_error();
    }
    if (result == MNL_CB_STOP) {
      return {};
    }
  }
}

}  // namespace sekisho::net
