#include "daemon/net/netlink_subscription.hpp"

#include <cerrno>

#include <linux/netlink.h>

#include "daemon/net/netlink_attributes.hpp"

namespace sekisho::net {

namespace {

// The timeout only bounds request(): reads never wait.
constexpr std::chrono::seconds kAnswerTimeout{5};

bool lost_datagram(const std::error_code& error) {
  return error.value() == ENOBUFS || error.value() == EMSGSIZE;
}

}  // namespace

std::error_code Subscription::open(int bus, std::span<const int> groups, int receive_buffer,
                                   const sock_fprog* filter) {
  NetlinkSocket socket;
  if (std::error_code error = socket.open(bus, kAnswerTimeout, NetlinkSocket::Mode::Events)) {
    return error;
  }
  if (std::error_code error = socket.set_nonblocking()) {
    return error;
  }
  if (std::error_code error = socket.set_buffers(0, receive_buffer)) {
    return error;
  }
  if (filter != nullptr) {
    if (std::error_code error = socket.attach_filter(*filter)) {
      return error;
    }
  }
  for (int group : groups) {
    if (std::error_code error = socket.join_group(group)) {
      return error;
    }
  }
  socket_ = std::move(socket);
  groups_.assign(groups.begin(), groups.end());
  queued_.clear();
  lost_while_requesting_ = 0;
  return {};
}

std::error_code Subscription::pause() {
  for (int group : groups_) {
    if (std::error_code error = socket_.leave_group(group)) {
      return error;
    }
  }
  return {};
}

std::error_code Subscription::resume() {
  for (int group : groups_) {
    if (std::error_code error = socket_.join_group(group)) {
      return error;
    }
  }
  return {};
}

std::error_code Subscription::read(std::size_t max_datagrams, const OnEvent& on_message,
                                   std::size_t& lost) {
  if (socket_.get() == nullptr) {
    return {EBADF, std::system_category()};
  }
  auto deliver = [&](const std::vector<std::uint8_t>& datagram) {
    // A message whose header does not fit ends its datagram; the ones before it count.
    walk_messages(datagram, [&](const nlmsghdr* message) {
      on_message(message);
      return true;
    });
  };
  lost += lost_while_requesting_;
  lost_while_requesting_ = 0;
  std::size_t read = 0;
  for (; read < max_datagrams && !queued_.empty(); ++read) {
    deliver(queued_.front());
    queued_.pop_front();
  }
  std::vector<std::uint8_t> datagram;
  for (; read < max_datagrams; ++read) {
    const std::error_code error = socket_.receive(datagram, std::chrono::milliseconds(0));
    if (error == std::errc::timed_out) {
      return {};  // nothing more waiting
    }
    if (lost_datagram(error)) {
      ++lost;
      continue;
    }
    if (error) {
      return error;
    }
    deliver(datagram);
  }
  return {};
}

std::error_code Subscription::request(Request& request) {
  if (request.overflowed()) {
    return {EMSGSIZE, std::system_category()};
  }
  nlmsghdr* header = request.header();
  const std::uint32_t seq = socket_.next_sequence();
  header->nlmsg_seq = seq;
  if (std::error_code error = socket_.send(header, header->nlmsg_len)) {
    return error;
  }
  std::vector<std::uint8_t> datagram;
  for (;;) {
    std::error_code error = socket_.receive(datagram);
    if (lost_datagram(error)) {
      ++lost_while_requesting_;  // maybe the answer too: the wait then runs out
      continue;
    }
    if (error) {
      return error;
    }
    std::optional<std::error_code> answer;
    walk_messages(datagram, [&](const nlmsghdr* message) {
      if (message->nlmsg_type != NLMSG_ERROR || message->nlmsg_seq != seq ||
          message->nlmsg_pid != socket_.port()) {
        return true;
      }
      const std::optional<int> code = message_error(message);
      if (!code || message->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) {
        answer = std::make_error_code(std::errc::bad_message);
      } else {
        answer = std::error_code(*code < 0 ? -*code : *code, std::system_category());
      }
      return false;
    });
    if (answer) {
      return *answer;
    }
    if (queued_.size() < kMaxQueued) {
      queued_.push_back(datagram);
    } else {
      ++lost_while_requesting_;
    }
  }
}

}  // namespace sekisho::net
