#pragma once
// rtnetlink (NETLINK_ROUTE) over libmnl: the few link and address operations sekishod needs
// for the WireGuard interface now, and for taking the WAN link down and back up (with its
// addresses, later its routes) next.
//
// The contract, the same for every call:
// - It acts in the network namespace of the calling thread, through a netlink socket of its
//   own that it closes before returning (no shared state: any thread may call, and a socket
//   never carries a half-read answer into the next call).
// - It blocks until the kernel has answered (an acknowledgement is requested even for reads,
//   so "done" means the kernel has applied the change), at most about 10 s, then fails
//   with std::errc::timed_out (ETIMEDOUT); a change that timed out may still take effect.
// - It returns an empty error_code on success, otherwise errno as the kernel (or libc)
//   gave it, in std::system_category(): compare with std::errc (e.g. no_such_device for
//   ENODEV). Arguments that can never be valid (empty names, names of IFNAMSIZ or more
//   bytes, an ifindex below 1, a prefix longer than the address) give EINVAL without
//   asking the kernel.
// - Changes need CAP_NET_ADMIN in the namespace's user namespace (else EPERM); reads don't.
// - Answers are parsed defensively: an answer from another socket or sequence number, a
//   truncated message or an attribute of the wrong size is an error (EPROTO, ESRCH,
//   EBADMSG...), never a read past the buffer; unknown attributes are ignored.

#include <string>
#include <system_error>
#include <vector>

#include "policy/address.hpp"

namespace sekisho::net {

struct LinkInfo {
  int index = 0;
  std::string name;
  // IFLA_LINKINFO/IFLA_INFO_KIND: "wireguard" (kernel WireGuard), "tun" (wireguard-go),
  // "veth", "bridge"...; empty for devices without a kind (lo, most physical NICs).
  std::string kind;
  unsigned flags = 0;  // ifi_flags: IFF_UP, IFF_LOWER_UP, IFF_RUNNING...

  // Administratively up (IFF_UP), whatever the carrier. WireGuard and tun devices report
  // operstate UNKNOWN while working, so neither this nor callers should look at operstate.
  bool up() const;
};

// The link called `name`. ENODEV when there is none.
std::error_code get_link(const std::string& name, LinkInfo& out);

// Creates link `name` of `kind` ("wireguard", "dummy", "bridge"...), down and without
// addresses. Never touches an existing link: EEXIST when the name is taken. A kind this
// kernel cannot make (no module, or modules cannot be loaded here) fails with what the
// kernel says, typically EOPNOTSUPP; callers decide on a fallback (wireguard-go).
std::error_code create_link(const std::string& name, const std::string& kind);

// Deletes link `name` (a veth takes its peer with it). ENODEV when there is none.
std::error_code delete_link(const std::string& name);

// Sets or clears IFF_UP on `name` and nothing else. ENODEV when there is none. Setting the
// state the link already has is harmless.
std::error_code set_link_up(const std::string& name, bool up);

// Every IPv4 and IPv6 address on link `ifindex` (for IPv4 the local address, IFA_LOCAL),
// in the kernel's order, replacing `out`. IPv6 link-local addresses (fe80::/10) are left
// out: the kernel makes them itself whenever the link comes up, so they are neither
// configuration to restore nor to compare. Tentative, deprecated and autoconfigured
// (SLAAC) addresses are included. ENODEV when there is no such link (the kernel says so at
// the end of the dump; kernels before 4.20 send an empty list instead). A dump the kernel
// marks inconsistent (addresses changed during it) is repeated; EINTR after a few attempts.
std::error_code list_addresses(int ifindex, std::vector<policy::InterfaceAddress>& out);

// Adds `address` to link `ifindex`, or updates it if it is there already (NLM_F_REPLACE),
// so repeating it is harmless. Sent as IFA_LOCAL and IFA_ADDRESS alike (not a
// point-to-point peer), universe scope, no broadcast address.
std::error_code add_address(int ifindex, const policy::InterfaceAddress& address);

// Removes `address` (address and prefix must both match) from link `ifindex`.
// EADDRNOTAVAIL when it is not there. Removing a primary IPv4 address also removes the
// secondaries of its subnet unless net.ipv4.conf.*.promote_secondaries is set.
std::error_code delete_address(int ifindex, const policy::InterfaceAddress& address);

}  // namespace sekisho::net
