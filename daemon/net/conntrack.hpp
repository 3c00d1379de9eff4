#pragma once
// ctnetlink (NETLINK_NETFILTER, subsystem CTNETLINK) over libmnl: what jump sessions need
// from the kernel's connection tracking. Every flow of a session carries the session's
// number as its ct mark (set by the session's nftables rule), so the kernel can select a
// session's flows by mark: to read their byte counters while the session runs, to delete
// them when it ends (removing the session's set element stops new packets; deleting the
// flows stops "established" state from lingering), and to report each flow's totals when
// it ends.
//
// The contract of dump_flows and delete_flows is rtnl.hpp's: they act on a socket from
// open_conntrack_socket() that the caller keeps (sekishod opens one at start: deleting the
// connections of a closing schedule or an ended session never waits for a free
// descriptor), or in the forms without it on one of their own; they block until the
// kernel has answered (at most about 10 s, then std::errc::timed_out), and return errno in
// std::system_category(). Both need CAP_NET_ADMIN in the namespace's user namespace.
// While no rule of the namespace uses conntrack (nothing tracked yet) a dump is empty and
// a delete deletes nothing; a kernel without ctnetlink at all answers EOPNOTSUPP.
//
// Counters and timestamps are per flow and only exist for flows created while
// enable_accounting() was in force; for others they are absent (has_counters false,
// start_ns empty), never zero by accident. Treat them as evidence of what each flow
// carried, not as a quota: events can be lost (FlowEvents::read says so) and a flow that
// ends while nobody listens leaves no record, so per-session totals that must add up
// belong in nftables counters.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/net/netlink_socket.hpp"
#include "daemon/net/netlink_subscription.hpp"

struct nlmsghdr;

namespace sekisho::net {

// One conntrack entry as the kernel reports it, seen from the side that opened it (the
// original direction): `source` is the client, `destination` the server, whatever NAT
// did to the reply direction.
struct Flow {
  // CTA_ID: a hash the kernel derives from the entry, the same for its whole life (in
  // dumps, events and `conntrack -o id`); 0 when absent.
  std::uint32_t id = 0;
  std::uint32_t mark = 0;           // the kernel leaves CTA_MARK out of events when it is 0
  int family = 0;                   // AF_INET or AF_INET6
  std::string source, destination;  // inet_ntop text
  std::uint8_t protocol = 0;        // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP...
  // 0 for protocols without ports (ICMP: its id, type and code are not reported here).
  std::uint16_t source_port = 0, destination_port = 0;
  // Packets and bytes (IP header included) counted in each direction; only when
  // has_counters, which needs nf_conntrack_acct when the flow was created. NEW events
  // never carry them.
  bool has_counters = false;
  std::uint64_t packets_to_destination = 0, bytes_to_destination = 0;      // CTA_COUNTERS_ORIG
  std::uint64_t packets_from_destination = 0, bytes_from_destination = 0;  // CTA_COUNTERS_REPLY
  // CLOCK_REALTIME in ns (CTA_TIMESTAMP), needs nf_conntrack_timestamp when the flow was
  // created. start_ns is in dumps and DESTROY events, stop_ns only in DESTROY events; NEW
  // events carry neither, so a listener that wants the start of a flow it has just seen
  // takes its own clock or waits for the DESTROY event.
  std::optional<std::uint64_t> start_ns{}, stop_ns{};
};

// Sets net.netfilter.nf_conntrack_acct and nf_conntrack_timestamp to 1 in the calling
// thread's network namespace (they are per namespace), writing only what is not 1 yet,
// so it also succeeds where /proc/sys is read-only but already set. Affects flows created
// afterwards only: call it before the first session opens. ENOENT when conntrack is not
// loaded in this kernel yet (load the ruleset that uses `ct` first).
std::error_code enable_accounting();

// The flows whose mark & mask == mark, of both address families, selected by the kernel
// (a dump request carrying CTA_MARK and CTA_MARK_MASK, so unrelated flows never cross to
// userspace). Replaces `flows`; no order; an entry the kernel sends twice (it can when
// its table is resized during the dump) is listed once. EINVAL without asking the kernel
// when `mark` has bits outside `mask` (nothing could ever match).
std::error_code dump_flows(NetlinkSocket& socket, std::uint32_t mark, std::uint32_t mask,
                           std::vector<Flow>& flows);

// Deletes the flows whose mark & mask == mark, of both address families, in one request
// (IPCTNL_MSG_CT_DELETE without a tuple: the kernel's filtered flush). Each deleted flow
// produces a DESTROY event with its final counters. Deleting nothing is not an error.
// EINVAL without asking the kernel when `mask` is 0 (that would delete every flow of the
// namespace, the gateway's own included) or `mark` has bits outside `mask`.
// Order with nftables: remove the session's authorisation first, then delete its flows;
// the other way round the next packet of a running TCP stream is picked up as a new flow
// (nf_conntrack_tcp_loose) and still authorised.
std::error_code delete_flows(NetlinkSocket& socket, std::uint32_t mark, std::uint32_t mask);

// Opens `socket` for the two calls above (NETLINK_NETFILTER).
std::error_code open_conntrack_socket(NetlinkSocket& socket);

// Both on a socket of their own, opened and closed for the one call.
std::error_code dump_flows(std::uint32_t mark, std::uint32_t mask, std::vector<Flow>& flows);
std::error_code delete_flows(std::uint32_t mark, std::uint32_t mask);

enum class FlowEventKind { New, Destroy };

struct FlowEvent {
  FlowEventKind kind;
  Flow flow;
};

// A subscription to flows starting (NFNLGRP_CONNTRACK_NEW) and ending
// (NFNLGRP_CONNTRACK_DESTROY, with final counters and timestamps when accounting is on)
// in the network namespace of the thread that calls open(), for an event loop: the socket
// is non-blocking and read() never waits. Events arrive as they happen, also for flows
// the kernel deletes on timeout. Subscribing needs CAP_NET_ADMIN (else EPERM). Not
// copyable; movable.
class FlowEvents {
 public:
  // Asks for this much receive buffer (SO_RCVBUFFORCE, which needs CAP_NET_ADMIN in the
  // initial user namespace, else SO_RCVBUF, capped by net.core.rmem_max): each pending
  // event holds about 1 KiB of it, and a burst that overflows it loses events.
  static constexpr int kReceiveBuffer = 4 * 1024 * 1024;
  // read() returns after this many datagrams even if more are waiting (the fd stays
  // readable), so a flood of flows cannot starve the rest of the event loop.
  static constexpr int kReadBatch = 256;

  // Every flow of the namespace. On a gateway that is all of its traffic: prefer the
  // filtered form.
  std::error_code open();
  // Only flows whose mark has any bit of `mark_mask` set (0xffffffff: every flow with a
  // mark, i.e. every session's) and none of `excluded` (e.g. the bit that marks a
  // scheduled rule's connections rather than a session's). The kernel applies the filter
  // to the socket before an event is queued, so the gateway's other flows cost neither
  // wakeups nor buffer space. EINVAL for a mask of 0.
  std::error_code open(std::uint32_t mark_mask, std::uint32_t excluded = 0);

  // -1 before open(). Owned here: an Asio descriptor that wraps it must release() it
  // rather than close it.
  int fd() const;
  // The receive buffer the kernel granted, in bytes as SO_RCVBUF reports it (about twice
  // what was asked); 0 before open().
  int receive_buffer() const;

  // Replaces `events` with what is waiting, oldest first, without blocking (nothing
  // waiting is success with no events). `lost` is set when the kernel dropped events
  // because the buffer was full (ENOBUFS): which flows they concerned is unknown, so the
  // caller should re-read the state with dump_flows. Messages not sent by the kernel
  // (another process can send to this socket's port) are ignored, and so are messages
  // that do not parse.
  std::error_code read(std::vector<FlowEvent>& events, bool& lost);

 private:
  std::error_code open_with_filter(std::optional<std::uint32_t> mark_mask, std::uint32_t excluded);

  Subscription events_;
};

// Parses one ctnetlink conntrack message (IPCTNL_MSG_CT_NEW as in dumps and NEW events,
// IPCTNL_MSG_CT_DELETE as in DESTROY events) of at most `length` bytes at `message`
// (4-byte aligned, as netlink buffers are). False, with `flow` untouched, for anything
// malformed: another message type, a length that does not fit, an attribute of the
// wrong size or cut short, a family other than AF_INET/AF_INET6, no original tuple.
// Unknown attributes are skipped. Never reads outside [message, message + length).
bool parse_flow(const nlmsghdr* message, std::size_t length, Flow& flow);

}  // namespace sekisho::net
