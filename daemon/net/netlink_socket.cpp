#include "daemon/net/netlink_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

namespace sekisho::net {
namespace {

// errno as an error code; EIO when a libmnl call failed without setting it.
std::error_code last_error() {
  return {errno != 0 ? errno : EIO, std::system_category()};
}

std::error_code set_buffer(int fd, int forced, int plain, int bytes) {
  if (bytes > 0 && ::setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) != 0 &&
      ::setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes) != 0) {
    return last_error();
  }
  return {};
}

std::error_code set_membership(mnl_socket* socket, int option, int group) {
  if (mnl_socket_setsockopt(socket, option, &group, sizeof group) < 0) {
    return last_error();
  }
  return {};
}

std::error_code set_filter(int fd, const std::vector<sock_filter>& code) {
  sock_fprog program{static_cast<unsigned short>(code.size()),
                     const_cast<sock_filter*>(code.data())};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
    return last_error();
  }
  return {};
}

std::error_code set_nonblocking_flag(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return last_error();
  }
  return {};
}

}  // namespace

std::error_code NetlinkSocket::open_socket(std::unique_ptr<mnl_socket, Closer>& out) const {
  std::unique_ptr<mnl_socket, Closer> socket(mnl_socket_open2(bus_, SOCK_CLOEXEC));
  if (!socket || mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return last_error();
  }
  for (Option option : options_) {
    if (mnl_socket_setsockopt(socket.get(), option.name, &option.value, sizeof option.value) < 0) {
      return last_error();
    }
  }
  out = std::move(socket);
  return {};
}

std::error_code NetlinkSocket::open(int bus, std::chrono::seconds timeout, Mode mode) {
  bus_ = bus;
  timeout_ = timeout;
  mode_ = mode;
  options_.clear();
  groups_.clear();
  filter_.clear();
  nonblocking_ = false;
  redo_on_renew_ = nullptr;
  send_bytes_ = 0;
  receive_bytes_ = 0;
  suspect_ = false;
  if (sequence_ == 0) {
    // Distinct from whatever an earlier socket with the same port id used.
    sequence_ = static_cast<std::uint32_t>(std::time(nullptr));
  }
  return open_socket(socket_);
}

std::error_code NetlinkSocket::set_option(int name, int value) {
  if (mnl_socket_setsockopt(socket_.get(), name, &value, sizeof value) < 0) {
    return last_error();  // not remembered: a renewal must not fail on it
  }
  options_.push_back({name, value});
  return {};
}

std::error_code NetlinkSocket::apply_buffers() const {
  const int fd = mnl_socket_get_fd(socket_.get());
  std::error_code send_error = set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, send_bytes_);
  std::error_code receive_error = set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, receive_bytes_);
  return send_error ? send_error : receive_error;
}

std::error_code NetlinkSocket::set_buffers(int send_bytes, int receive_bytes) {
  send_bytes_ = send_bytes > 0 ? send_bytes : send_bytes_;
  receive_bytes_ = receive_bytes > 0 ? receive_bytes : receive_bytes_;
  return apply_buffers();
}

std::error_code NetlinkSocket::join_group(int group) {
  if (std::error_code error = set_membership(socket_.get(), NETLINK_ADD_MEMBERSHIP, group)) {
    return error;
  }
  if (std::find(groups_.begin(), groups_.end(), group) == groups_.end()) {
    groups_.push_back(group);
  }
  return {};
}

std::error_code NetlinkSocket::leave_group(int group) {
  if (std::error_code error = set_membership(socket_.get(), NETLINK_DROP_MEMBERSHIP, group)) {
    return error;
  }
  groups_.erase(std::remove(groups_.begin(), groups_.end(), group), groups_.end());
  return {};
}

std::error_code NetlinkSocket::attach_filter(const sock_fprog& program) {
  std::vector<sock_filter> code(program.filter, program.filter + program.len);
  if (std::error_code error = set_filter(fd(), code)) {
    return error;
  }
  filter_ = std::move(code);
  return {};
}

std::error_code NetlinkSocket::set_nonblocking() {
  if (std::error_code error = set_nonblocking_flag(fd())) {
    return error;
  }
  nonblocking_ = true;
  return {};
}

void NetlinkSocket::on_renew(std::function<std::error_code(NetlinkSocket&)> redo) {
  redo_on_renew_ = std::move(redo);
}

std::error_code NetlinkSocket::apply_subscription(mnl_socket* socket) const {
  const int fd = mnl_socket_get_fd(socket);
  if (nonblocking_) {
    if (std::error_code error = set_nonblocking_flag(fd)) {
      return error;
    }
  }
  if (!filter_.empty()) {
    if (std::error_code error = set_filter(fd, filter_)) {
      return error;
    }
  }
  for (int group : groups_) {
    if (std::error_code error = set_membership(socket, NETLINK_ADD_MEMBERSHIP, group)) {
      return error;
    }
  }
  return {};
}

std::uint32_t NetlinkSocket::next_sequence(std::uint32_t count) {
  if (count == 0) {
    count = 1;
  }
  // No range that wraps through 0.
  if (sequence_ == 0 || sequence_ > UINT32_MAX - count) {
    sequence_ = 1;
  }
  const std::uint32_t first = sequence_;
  sequence_ += count;
  return first;
}

void NetlinkSocket::discard_pending() {
  // What is dropped here, an overflow (ENOBUFS) included, was never going to be read.
  const bool suspect = suspect_;
  std::vector<std::uint8_t> datagram;
  // A dump left unread goes on with every read until its end, so this ends too; the
  // bound only keeps a kernel that never stops from holding the loop.
  for (int read = 0; read < 1000000; ++read) {
    std::error_code error = receive(datagram, std::chrono::milliseconds(0));
    if (error && error.value() != ENOBUFS) {
      break;  // nothing left (timed_out), or the socket failed: the next request says so
    }
  }
  suspect_ = suspect;
}

void NetlinkSocket::renew() {
  suspect_ = false;  // before `redo`, whose requests must not renew again
  std::unique_ptr<mnl_socket, Closer> fresh;
  if (!open_socket(fresh) && !apply_subscription(fresh.get())) {
    std::swap(socket_, fresh);
    apply_buffers();
    // The old socket goes first: what the kernel binds to a port id (an nfnetlink_log
    // group) is released only when that socket closes.
    fresh.reset();
    if (redo_on_renew_ && redo_on_renew_(*this)) {
      suspect_ = true;  // the next request tries again
    }
  } else if (mode_ == Mode::Requests) {
    discard_pending();  // no descriptor to spare: the old socket serves, drained
  }
}

std::error_code NetlinkSocket::send(const void* message, std::size_t size) {
  if (suspect_) {
    renew();
  }
  if (mode_ == Mode::Requests) {
    discard_pending();
  }
  if (mnl_socket_sendto(socket_.get(), message, size) < 0) {
    suspect_ = true;
    return last_error();
  }
  return {};
}

std::error_code NetlinkSocket::receive(std::vector<std::uint8_t>& datagram) {
  return receive(datagram, timeout_);
}

std::error_code NetlinkSocket::receive(std::vector<std::uint8_t>& datagram,
                                       std::chrono::milliseconds wait) {
  const int fd = mnl_socket_get_fd(socket_.get());
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    datagram.resize(kReceiveSize);
    sockaddr_nl sender{};
    iovec part{datagram.data(), datagram.size()};
    msghdr header{};
    header.msg_name = &sender;
    header.msg_namelen = sizeof sender;
    header.msg_iov = &part;
    header.msg_iovlen = 1;
    const ssize_t received = ::recvmsg(fd, &header, MSG_DONTWAIT);
    if (received >= 0) {
      if ((header.msg_flags & MSG_TRUNC) != 0) {
        suspect_ = mode_ == Mode::Requests;
        return {EMSGSIZE, std::system_category()};
      }
      // Only the kernel answers requests: anything another process sent (which takes
      // CAP_NET_ADMIN) is skipped, within the same bound on the wait.
      if (sender.nl_pid != 0) {
        if (std::chrono::steady_clock::now() >= deadline && wait.count() > 0) {
          return std::make_error_code(std::errc::timed_out);
        }
        continue;
      }
      datagram.resize(static_cast<std::size_t>(received));
      return {};
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      // ENOBUFS: answers were dropped, and which is not known (events: the subscriber
      // counts them lost).
      suspect_ = mode_ == Mode::Requests || errno != ENOBUFS;
      return last_error();
    }
    if (wait.count() == 0) {
      return std::make_error_code(std::errc::timed_out);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      suspect_ = true;  // the answer may still come, after the next request's
      return std::make_error_code(std::errc::timed_out);
    }
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30))) < 0 &&
        errno != EINTR) {
      suspect_ = true;
      return last_error();
    }
  }
}

std::error_code NetlinkSocket::run_until_stop(std::uint32_t seq, mnl_cb_t on_message, void* data,
                                              mnl_cb_t* control, unsigned control_length) {
  std::vector<std::uint8_t> datagram;
  for (;;) {
    if (std::error_code error = receive(datagram)) {
      return error;
    }
    // A datagram holds answers to one request: one to another sequence number is what an
    // earlier request left (send() drains those, but one may come late).
    const auto* first = reinterpret_cast<const nlmsghdr*>(datagram.data());
    if (seq != 0 && datagram.size() >= sizeof(nlmsghdr) && first->nlmsg_seq != seq) {
      continue;
    }
    errno = 0;
    // mnl_cb_run2 checks that each answer carries our port id and `seq`.
    const int result = mnl_cb_run2(datagram.data(), datagram.size(), seq, port(), on_message, data,
                                   control, control_length);
    if (result == MNL_CB_ERROR) {
      std::error_code error = last_error();
      // A dump refused as busy: one the kernel never finished holds the socket.
      if (error.value() == EBUSY) {
        suspect_ = true;
      }
      return error;
    }
    if (result == MNL_CB_STOP) {
      return {};
    }
  }
}

}  // namespace sekisho::net
