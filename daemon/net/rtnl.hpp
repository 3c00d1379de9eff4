#pragma once
// rtnetlink (NETLINK_ROUTE) over libmnl: the few link, address and route operations sekishod
// needs for the WireGuard interface and for taking the WAN link down and back up with its
// addresses and routes (link_snapshot.hpp).
//
// The contract, the same for every call:
// - It acts through `socket`, a NETLINK_ROUTE socket from open_route_socket() that the
//   caller keeps (sekishod opens one at start, so taking the WAN link down never waits for
//   a free descriptor), in the network namespace the socket was opened in; one thread at a
//   time per socket. The forms without a socket (at the end) open one of their own and
//   close it before returning: any thread may call them, but each needs a free descriptor.
// - It blocks until the kernel has answered (an acknowledgement is requested even for reads,
//   so "done" means the kernel has applied the change), at most about 10 s, then fails
//   with std::errc::timed_out (ETIMEDOUT); a change that timed out may still take effect.
// - It returns an empty error_code on success, otherwise errno as the kernel (or libc)
//   gave it, in std::system_category(): compare with std::errc (e.g. no_such_device for
//   ENODEV). Arguments that can never be valid (empty names, names of IFNAMSIZ or more
//   bytes, an ifindex below 1, a prefix longer than the address) give EINVAL without
//   asking the kernel.
// - Changes need CAP_NET_ADMIN in the namespace's user namespace (else EPERM); reads don't.
// - Answers are parsed defensively: a truncated message or an attribute of the wrong size
//   is an error (EBADMSG...), never a read past the buffer; answers from another socket or
//   to another request are skipped (netlink_socket.hpp); unknown attributes are ignored.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/net/netlink_socket.hpp"
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

// Opens `socket` for the calls below: NETLINK_ROUTE, acknowledgements without the request
// echoed (NETLINK_CAP_ACK), dumps filtered by the kernel where it can (strict checking).
std::error_code open_route_socket(NetlinkSocket& socket);

// The link called `name`. ENODEV when there is none.
std::error_code get_link(NetlinkSocket& socket, const std::string& name, LinkInfo& out);

// Creates link `name` of `kind` ("wireguard", "dummy", "bridge"...), down and without
// addresses. Never touches an existing link: EEXIST when the name is taken. A kind this
// kernel cannot make (no module, or modules cannot be loaded here) fails with what the
// kernel says, typically EOPNOTSUPP; callers decide on a fallback (wireguard-go).
std::error_code create_link(NetlinkSocket& socket, const std::string& name,
                            const std::string& kind);

// Deletes link `name` (a veth takes its peer with it). ENODEV when there is none.
std::error_code delete_link(NetlinkSocket& socket, const std::string& name);

// Sets or clears IFF_UP on `name` and nothing else. ENODEV when there is none. Setting the
// state the link already has is harmless.
std::error_code set_link_up(NetlinkSocket& socket, const std::string& name, bool up);

// Every IPv4 and IPv6 address on link `ifindex` (for IPv4 the local address, IFA_LOCAL),
// in the kernel's order, replacing `out`. IPv6 link-local addresses (fe80::/10) are left
// out: the kernel makes them itself whenever the link comes up, so they are neither
// configuration to restore nor to compare. Tentative, deprecated and autoconfigured
// (SLAAC) addresses are included. ENODEV when there is no such link (the kernel says so at
// the end of the dump; kernels before 4.20 send an empty list instead). A dump the kernel
// marks inconsistent (addresses changed during it) is repeated; EINTR after a few attempts.
std::error_code list_addresses(NetlinkSocket& socket, int ifindex,
                               std::vector<policy::InterfaceAddress>& out);

// An address with the state the kernel keeps for it.
struct AddressStatus {
  policy::InterfaceAddress address;
  // IFA_FLAGS (ifa_flags on kernels without it): IFA_F_TENTATIVE (duplicate address
  // detection still running), IFA_F_DADFAILED, IFA_F_PERMANENT (no lifetime),
  // IFA_F_TEMPORARY (an IPv6 privacy address), IFA_F_NODAD...
  std::uint32_t flags = 0;
  // IFA_PROTO (kernels since 5.18; 0 before): who made it, e.g. 3 (IFA_PROTO_KERNEL_RA)
  // for an IPv6 address the kernel configured from a router advertisement (SLAAC).
  std::uint8_t protocol = 0;
};

// The same list as above, same order and same exclusions, with each address's state.
std::error_code list_addresses(NetlinkSocket& socket, int ifindex, std::vector<AddressStatus>& out);

// Adds `address` to link `ifindex`, or updates it if it is there already (NLM_F_REPLACE),
// so repeating it is harmless. Sent as IFA_LOCAL and IFA_ADDRESS alike (not a
// point-to-point peer), universe scope, no broadcast address.
std::error_code add_address(NetlinkSocket& socket, int ifindex,
                            const policy::InterfaceAddress& address);

// Removes `address` (address and prefix must both match) from link `ifindex`.
// EADDRNOTAVAIL when it is not there. Removing a primary IPv4 address also removes the
// secondaries of its subnet unless net.ipv4.conf.*.promote_secondaries is set.
std::error_code delete_address(NetlinkSocket& socket, int ifindex,
                               const policy::InterfaceAddress& address);

// One route through one link, as list_routes reports it and add_route/delete_route take it.
// Fields are the kernel's own numbers, so a listed route added back is the same route.
struct Route {
  policy::Cidr destination;                  // 0.0.0.0/0 or ::/0 for a default route
  std::optional<policy::IpAddress> gateway;  // RTA_GATEWAY, same family as the destination
  std::optional<policy::IpAddress> source;   // RTA_PREFSRC, same family as the destination
  std::uint32_t table = 254;                 // RTA_TABLE: 254 main; 0 is no table (EINVAL)
  // RTA_PRIORITY. IPv6 turns 0 into 1024 (what list_routes then reports).
  std::uint32_t metric = 0;
  std::uint8_t protocol = 3;  // rtm_protocol: 3 RTPROT_BOOT (as `ip route add`), 4 static...
  // rtm_scope: 0 universe (routes via a gateway), 253 link (IPv4 routes without one). IPv6
  // routes are always reported as universe.
  std::uint8_t scope = 0;
  std::uint8_t type = 1;  // rtm_type: 1 RTN_UNICAST
  bool onlink = false;    // RTNH_F_ONLINK: the gateway is on the link without a route to it
  int ifindex = 0;        // RTA_OIF

  bool operator==(const Route&) const = default;
};

// Like `ip route`: "203.0.113.0/24 via 198.51.100.1 table 100 metric 50 proto 3 ...", for
// logs and reports.
std::string to_string(const Route& route);

// Every IPv4 and IPv6 route whose output interface is link `ifindex`, from all tables, in
// the kernel's order (IPv4 first), replacing `out`. Left out, because the kernel makes
// them itself and makes them again when the link comes up or an address is added, so they
// are neither configuration to restore nor to compare: routes of protocol kernel (2: the
// prefix routes of addresses, IPv6 fe80::/64), everything in the local table (255: local,
// broadcast and anycast routes of addresses, IPv6 multicast ff00::/8), routes learned
// from router advertisements (9) and ICMP redirects (1), and cloned (cache/exception)
// entries.
//
// A route through the link that Route cannot carry whole (a multipath route with a
// next hop here, a next-hop object, an encapsulation, a gateway of the other family
// (RTA_VIA), a source prefix or TOS, route metrics such as mtu, realms, an expiry or a
// non-medium IPv6 router preference) is never silently dropped or reported half: it is
// left out of `out` and counted in `*unrepresentable`, or, when that is null, the call
// fails with EOPNOTSUPP. ENODEV when there is no such link (kernels before 5.0 send an
// empty list instead). Inconsistent dumps are repeated as in list_addresses.
std::error_code list_routes(NetlinkSocket& socket, int ifindex, std::vector<Route>& out,
                            int* unrepresentable = nullptr);

// Adds `route` through link `route.ifindex`. Never replaces nor appends to (IPv6 would
// make a multipath route of) a route that is there: NLM_F_EXCL, so EEXIST when the table
// holds a route with the same destination and metric already, whatever its gateway. The
// link must be up; the gateway reachable through it (else ENETUNREACH) or `onlink`; the
// source one of its usable addresses, which an IPv6 address still in duplicate address
// detection is not (EINVAL).
std::error_code add_route(NetlinkSocket& socket, const Route& route);

// Removes a route with `route`'s destination and table whose other fields match: the
// kernel compares metric, gateway, link and protocol, for IPv4 also type, scope and
// source. ESRCH when there is none. A metric of 0 matches any metric (the kernel's rule,
// IPv4 and IPv6 alike), so with the metric-0 route gone, another route of the same
// destination and fields but a higher metric is deleted instead.
std::error_code delete_route(NetlinkSocket& socket, const Route& route);

// The same calls on a socket of their own, opened and closed for the one call: for tools,
// tests and the VPN, never for what enforcing needs.
std::error_code get_link(const std::string& name, LinkInfo& out);
std::error_code create_link(const std::string& name, const std::string& kind);
std::error_code delete_link(const std::string& name);
std::error_code set_link_up(const std::string& name, bool up);
std::error_code list_addresses(int ifindex, std::vector<policy::InterfaceAddress>& out);
std::error_code list_addresses(int ifindex, std::vector<AddressStatus>& out);
std::error_code add_address(int ifindex, const policy::InterfaceAddress& address);
std::error_code delete_address(int ifindex, const policy::InterfaceAddress& address);
std::error_code list_routes(int ifindex, std::vector<Route>& out, int* unrepresentable = nullptr);
std::error_code add_route(const Route& route);
std::error_code delete_route(const Route& route);

}  // namespace sekisho::net
