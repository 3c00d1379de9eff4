#pragma once
// One netlink socket (libmnl) for request/answer exchanges with the kernel, shared by
// rtnetlink (rtnl.hpp), ctnetlink (conntrack.hpp), nftables (daemon/nft/socket.hpp) and
// WireGuard's generic netlink family (daemon/vpn/genl.hpp): bound with a port id of its
// own, so answers are told from anything else, and with a bound on every wait, so a wedged
// kernel cannot hang the daemon. Errors are errno in std::system_category(); a wait that
// ran out is std::errc::timed_out.
//
// A socket may serve one request or be kept for the daemon's whole life (sekishod opens
// one per bus at start, so that enforcing never needs a descriptor it could fail to get).
// A kept socket carries what an earlier request left: answers that came after their
// request timed out, the rest of a dump nobody read to its end, a receive queue that
// overflowed (ENOBUFS). So every request starts clean: send() discards whatever is still
// waiting, each request has a sequence number of its own (next_sequence) and answers to
// any other are skipped, and only datagrams the kernel sent count. After a failure no
// drain can be sure to repair (a timeout, lost answers, a dump the kernel left unfinished),
// the next send() first tries a new socket with the same options, and keeps the old one
// when no descriptor is free: renewing helps, but nothing depends on it.
//
// A socket in Mode::Events (Subscription, netlink_subscription.hpp) receives what the
// kernel sends on its own: multicast groups it joined, or unicast packets a request bound
// to it (nfnetlink_log). There send() discards nothing, an overflow (ENOBUFS) is lost
// events rather than a reason to renew, and a renewal joins the same groups, attaches the
// same filter and then runs what on_renew() asked for (a bind the kernel keeps per port
// id must be made again on the new one). A renewal changes fd().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

#include <libmnl/libmnl.h>
#include <linux/filter.h>

namespace sekisho::net {

class NetlinkSocket {
 public:
  // The kernel sizes dump parts by the reader's buffer, up to 32 KiB; a smaller buffer
  // would truncate them.
  static constexpr std::size_t kReceiveSize = 32 * 1024;

  enum class Mode { Requests, Events };

  // Opens a socket of `bus` (NETLINK_ROUTE, NETLINK_GENERIC...), close-on-exec, bound to
  // an automatic port id; every receive waits at most `timeout`.
  std::error_code open(int bus, std::chrono::seconds timeout, Mode mode = Mode::Requests);

  mnl_socket* get() const { return socket_.get(); }
  // -1 before open().
  int fd() const { return socket_ ? mnl_socket_get_fd(socket_.get()) : -1; }
  unsigned port() const { return mnl_socket_get_portid(socket_.get()); }

  // Sets a SOL_NETLINK option (NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK...), now and, when
  // the kernel took it, on every socket a renewal opens.
  std::error_code set_option(int name, int value);

  // Room for this many bytes to send in one datagram and to receive before the kernel
  // drops answers (SO_SNDBUFFORCE/SO_RCVBUFFORCE, which need CAP_NET_ADMIN; else the plain
  // options, which the system maximum caps); 0 leaves that one as it is. Kept for a
  // renewal too.
  // The error is the plain option's, when neither could be set.
  std::error_code set_buffers(int send_bytes, int receive_bytes);

  // Joins or leaves a multicast group (NETLINK_ADD/DROP_MEMBERSHIP); a renewal joins
  // those joined.
  std::error_code join_group(int group);
  std::error_code leave_group(int group);

  // A classic BPF filter on what the socket receives (SO_ATTACH_FILTER), kept for a
  // renewal. Attach it before joining groups, so that nothing unfiltered gets in.
  std::error_code attach_filter(const sock_fprog& program);

  // O_NONBLOCK on the descriptor, for an event loop that waits on it (receive() never
  // blocks in the kernel anyway); kept for a renewal.
  std::error_code set_nonblocking();

  // What a renewed socket needs besides options, buffers, groups and filter (it may send
  // requests on it). The old socket is closed before, so that the kernel releases what it
  // bound to the old port id; when `redo` fails, the next send() renews again.
  void on_renew(std::function<std::error_code(NetlinkSocket&)> redo);

  // The sequence number for the next request, never 0 (libmnl's "do not check"): the
  // first of `count` consecutive ones, for a batch of that many messages.
  std::uint32_t next_sequence(std::uint32_t count = 1);

  // Sends one request, after discarding what earlier requests left waiting (and, after a
  // failure, on a new socket when one can be opened). In Mode::Events nothing is
  // discarded: what waits is the subscriber's.
  std::error_code send(const void* message, std::size_t size);

  // One datagram from the kernel, `datagram` resized to what came; waits at most the
  // socket's timeout, or `wait` (0: only what is there already). A signal does not end
  // the wait. ENOBUFS: the kernel dropped answers because the receive buffer was full;
  // EMSGSIZE: a datagram larger than kReceiveSize, lost.
  std::error_code receive(std::vector<std::uint8_t>& datagram);
  std::error_code receive(std::vector<std::uint8_t>& datagram, std::chrono::milliseconds wait);

  // Reads answers to `seq` through mnl_cb_run2 until a callback stops (the ACK, or the end
  // of a dump when `control` says so) or fails. Messages of other types go to
  // `on_message`; `control` replaces libmnl's handling of the types below its length.
  std::error_code run_until_stop(std::uint32_t seq, mnl_cb_t on_message, void* data,
                                 mnl_cb_t* control = nullptr, unsigned control_length = 0);

 private:
  struct Closer {
    void operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
  };
  struct Option {
    int name;
    int value;
  };

  std::error_code open_socket(std::unique_ptr<mnl_socket, Closer>& out) const;
  std::error_code apply_buffers() const;
  // Groups, filter and non-blocking mode on a socket a renewal opened.
  std::error_code apply_subscription(mnl_socket* socket) const;
  // Reads and drops every datagram waiting, without blocking.
  void discard_pending();
  // A new socket in place of this one, when one can be opened; else this one, drained.
  void renew();

  std::unique_ptr<mnl_socket, Closer> socket_;
  int bus_ = 0;
  std::chrono::seconds timeout_{0};
  Mode mode_ = Mode::Requests;
  std::vector<Option> options_;
  std::vector<int> groups_;
  std::vector<sock_filter> filter_;
  bool nonblocking_ = false;
  std::function<std::error_code(NetlinkSocket&)> redo_on_renew_;
  int send_bytes_ = 0;
  int receive_bytes_ = 0;
  std::uint32_t sequence_ = 0;
  // The last request failed in a way that may have left the socket unusable.
  bool suspect_ = false;
};

}  // namespace sekisho::net
