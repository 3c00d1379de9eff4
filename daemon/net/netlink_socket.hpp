#pragma once
// One netlink socket (libmnl) for request/answer exchanges with the kernel, shared by
// rtnetlink (rtnl.hpp) and WireGuard's generic netlink family (daemon/vpn/genl.hpp): bound
// with a port id of its own, so answers are told from anything else, and with a bound on
// every wait, so a wedged kernel cannot hang the daemon. Errors are errno in
// std::system_category(); a wait that ran out is std::errc::timed_out.

#include <chrono>
#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

#include <libmnl/libmnl.h>

namespace sekisho::net {

class NetlinkSocket {
 public:
  // The kernel sizes dump parts by the reader's buffer, up to 32 KiB; a smaller buffer
  // would truncate them.
  static constexpr std::size_t kReceiveSize = 32 * 1024;

  // Opens a socket of `bus` (NETLINK_ROUTE, NETLINK_GENERIC...), close-on-exec, bound to
  // an automatic port id; every receive waits at most `timeout`.
  std::error_code open(int bus, std::chrono::seconds timeout);

  mnl_socket* get() const { return socket_.get(); }
  unsigned port() const { return mnl_socket_get_portid(socket_.get()); }

  std::error_code send(const void* message, std::size_t size);

  // One datagram, `datagram` resized to what came. A signal does not end the wait.
  std::error_code receive(std::vector<std::uint8_t>& datagram);

  // Reads answers to `seq` through mnl_cb_run2 until a callback stops (the ACK, or the end
  // of a dump when `control` says so) or fails. Messages of other types go to
  // `on_message`; `control` replaces libmnl's handling of the types below its length.
  std::error_code run_until_stop(std::uint32_t seq, mnl_cb_t on_message, void* data,
                                 mnl_cb_t* control = nullptr, unsigned control_length = 0);

 private:
  struct Closer {
    void operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
  };
  std::unique_ptr<mnl_socket, Closer> socket_;
};

}  // namespace sekisho::net
