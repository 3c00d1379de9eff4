#pragma once
// What the kernel sends without being asked, for an event loop: multicast groups
// (nf_tables commits, conntrack flows) and unicast packets a configuration request bound
// to this socket (nfnetlink_log). The socket is non-blocking and read() never waits; only
// datagrams the kernel sent count (another process can send to our port id), and a
// datagram too large to read or an overflow of the receive buffer (ENOBUFS) is counted as
// lost, never silently skipped.
//
// request() sends a configuration request on the same socket and waits for its ACK while
// events keep arriving: those are queued for the next read(), not discarded (nfnetlink_log
// binds a group to the port id that asked, so the request cannot go elsewhere). When the
// socket is renewed after a failed request (by the next request), the groups and filter
// are joined and attached again and socket().on_renew() can bind again; the descriptor is
// then a new one: an event loop waits on fd() afresh after a request. A subscriber that
// hands its descriptor on (a dup() or an Asio descriptor wrapping fd(), as the nf_tables
// change monitor and the conntrack flow events do) must not call request(): a renewal
// would leave it waiting on the old socket, which stays readable.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <system_error>
#include <vector>

#include <linux/filter.h>

#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_socket.hpp"

struct nlmsghdr;

namespace sekisho::net {

class Subscription {
 public:
  // Datagrams request() keeps for read() at most while it waits; more are lost.
  static constexpr std::size_t kMaxQueued = 1024;

  // Opens a socket of `bus`, non-blocking, with `receive_buffer` bytes of room (forced
  // when CAP_NET_ADMIN allows, else the plain option, which net.core.rmem_max caps; 0
  // leaves the default), `filter` attached (when given) before it joins `groups`.
  std::error_code open(int bus, std::span<const int> groups, int receive_buffer,
                       const sock_fprog* filter = nullptr);

  int fd() const { return socket_.fd(); }
  NetlinkSocket& socket() { return socket_; }

  // Leaves and joins again every group open() joined. While no one listens the kernel
  // builds no events.
  std::error_code pause();
  std::error_code resume();

  // Calls on_message with each message of the datagrams waiting, oldest first, at most
  // `max_datagrams` of them (the descriptor stays readable when more wait); nothing
  // waiting is success. `lost` counts the overflows and unreadable datagrams met on the
  // way (not reset here): which events they held is unknown.
  using OnEvent = std::function<void(const nlmsghdr* message)>;
  std::error_code read(std::size_t max_datagrams, const OnEvent& on_message, std::size_t& lost);

  // Sends `request` (which asks for an ACK) and waits for its answer: the kernel's error,
  // or success. Events that come meanwhile are kept for read().
  std::error_code request(Request& request);

 private:
  NetlinkSocket socket_;
  std::vector<int> groups_;
  std::deque<std::vector<std::uint8_t>> queued_;
  std::size_t lost_while_requesting_ = 0;
};

}  // namespace sekisho::net
