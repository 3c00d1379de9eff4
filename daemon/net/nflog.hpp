#pragma once
// nfnetlink_log (NETLINK_NETFILTER, subsystem ULOG): packets an nftables `log group N`
// statement copies to userspace. A listener binds group N to its socket's port id with a
// configuration request on the same socket that then receives the packets (unicast, not
// a multicast group), so it uses a Subscription (netlink_subscription.hpp) opened with no
// groups: request(nflog_bind_request(...)) once, and again on a renewed socket
// (NetlinkSocket::on_renew), then read() the NFULNL_MSG_PACKETs and parse them here.
// Binding needs CAP_NET_ADMIN; binding a group again is EBUSY, and any request about a
// group another socket bound is EPERM.

#include <cstdint>
#include <optional>
#include <string>

#include "daemon/net/netlink_attributes.hpp"
#include "daemon/net/netlink_request.hpp"

struct nlmsghdr;

namespace sekisho::net {

struct NflogConfig {
  std::uint16_t group = 0;
  // Bytes of each packet copied (NFULNL_COPY_PACKET); 0 copies the metadata only.
  std::uint32_t copy_range = 0xffff;
  // NFULA_SEQ on every packet (NFULNL_CFG_F_SEQ): gaps show packets the kernel dropped.
  bool sequence_numbers = true;
};

// NFULNL_MSG_CONFIG binding `config.group` to the sending socket, with its copy mode and
// flags, asking for an ACK.
Request nflog_bind_request(const NflogConfig& config);
// NFULNL_MSG_CONFIG unbinding `group`.
Request nflog_unbind_request(std::uint16_t group);

struct NflogPacket {
  std::uint8_t family = 0;        // NFPROTO_IPV4, NFPROTO_IPV6, NFPROTO_INET...
  std::uint16_t group = 0;        // the log group (nfgenmsg res_id)
  std::uint16_t hw_protocol = 0;  // ETH_P_IP, ETH_P_IPV6... (host order)
  std::uint8_t hook = 0;          // NF_INET_PRE_ROUTING...
  std::string prefix;             // the log statement's prefix, "" without one
  std::optional<std::uint32_t> mark, indev, outdev, seq;
  // The packet from its network header on, as much as copy_range allowed; points into
  // the message, valid while the message's datagram is.
  ByteSpan payload;
};

// One NFULNL_MSG_PACKET message (checked by walk_messages or the like). False, with
// `packet` untouched, for another message type, a message too short for its headers,
// attributes that do not walk, a missing NFULA_PACKET_HDR or a value of the wrong size.
// Unknown attributes are skipped.
bool parse_nflog_packet(const nlmsghdr* message, NflogPacket& packet);

}  // namespace sekisho::net
