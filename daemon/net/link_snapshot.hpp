#pragma once
// A snapshot of a link's configuration (its addresses and routes) taken before sekishod
// sets the WAN link down outside operating hours, and restored after it sets it up again:
// a link set down loses every IPv4 route through it and (unless
// net.ipv6.conf.*.keep_addr_on_down) its IPv6 addresses, and with them its IPv6 routes;
// bringing it up gives back only what the kernel makes itself (prefix and local routes,
// the IPv6 link-local address). sekishod keeps the snapshot in its state directory as JSON,
// so a restart while the link is down still restores it.
//
// Calls follow rtnl.hpp's contract (a route socket the caller keeps, or one of their own in
// the forms without it; blocking; errno in system_category).

#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/net/rtnl.hpp"
#include "policy/address.hpp"

namespace sekisho::net {

struct LinkSnapshot {
  std::string link;  // the interface name: the link is found by it again at restore
  // As list_addresses reports them, less what the kernel configures by itself: IPv6
  // addresses from router advertisements (SLAAC, IFA_PROTO_KERNEL_RA; kernels before 5.18
  // do not tell them apart, so there they are recorded) and IPv6 privacy
  // (IFA_F_TEMPORARY) addresses. The next advertisement makes those again; restored,
  // they would stay without their lifetimes after the provider changed the prefix.
  // Lifetimes (e.g. of a DHCP lease) are not recorded: a restored address is permanent.
  std::vector<policy::InterfaceAddress> addresses;
  // As list_routes reports them. `ifindex` is the link's when the snapshot was taken;
  // restore uses the index the link has then, and the JSON form leaves it out (0 when read
  // back).
  std::vector<Route> routes;
};

// Records link `link`'s addresses and routes into `out`. ENODEV when there is no such
// link; EOPNOTSUPP when a route through it is one a snapshot cannot hold (see list_routes,
// which counts them): a snapshot that would silently lose it is refused, so the caller
// can leave the link up. `out` is untouched on failure.
std::error_code take_snapshot(NetlinkSocket& socket, const std::string& link, LinkSnapshot& out);

struct RestoreReport {
  int added = 0;    // addresses and routes added
  int present = 0;  // already there exactly as recorded (or by an earlier restore): left
  // Routes that could not be added because the table holds another route with the same
  // destination and metric (EEXIST: e.g. a DHCP client's default route with another
  // gateway). That route is left as it is; not an error. The recorded route, to_string.
  std::vector<std::string> displaced;
  // What could not be added, "address 198.51.100.2/24: <error>" or "route <route>:
  // <error>", in the order tried.
  std::vector<std::string> failed;
};

// One line for a log: "4 added, 1 present, 0 displaced, 1 failed (route ...: ...)".
std::string to_string(const RestoreReport& report);

// Adds to the link now called `snapshot.link` (its index looked up now: the device may
// have been re-created) the recorded addresses and routes it lacks, and nothing else:
// it brings nothing up (call it after set_link_up: routes need an up link), removes
// nothing and changes nothing that is there. The order is what the kernel requires:
// addresses first (a route's source must be a local address); then, when a route to add
// names an IPv6 source address that is still tentative (duplicate address detection runs
// for about a second after an IPv6 address is added or its link comes up, and until then
// the kernel refuses it as a route's source), it waits at most 10 s for detection to end
// (an address whose detection failed is reported in `failed` with EADDRINUSE, and so are
// the routes naming it); then routes without a gateway (one may be the route to a
// gateway), then routes with one. Addresses are added with detection, as `ip addr add`
// does: while the WAN was down, someone else may have taken the address.
//
// Every address and route is tried; the return is the first error (the one `failed`
// starts with), or ENODEV or a listing error before anything was tried. Restoring twice
// is harmless: the second time everything is `present`. `report` is replaced.
std::error_code restore_snapshot(NetlinkSocket& socket, const LinkSnapshot& snapshot,
                                 RestoreReport& report);

// The stored form: {"version": 1, "link": "wan0", "addresses": ["198.51.100.2/24", ...],
// "routes": [{"destination": "0.0.0.0/0", "gateway": "198.51.100.1", "table": 254,
// "metric": 0, "protocol": 3, "scope": 0, "type": 1, "onlink": false}, ...]}; "gateway"
// and "source" only when the route has one, numbers as the kernel has them.
// The same on a socket of their own (tools and tests).
std::error_code take_snapshot(const std::string& link, LinkSnapshot& out);
std::error_code restore_snapshot(const LinkSnapshot& snapshot, RestoreReport& report);

nlohmann::json to_json(const LinkSnapshot& snapshot);

// Reads the stored form back. nullopt with `error` saying where and why ("routes[2].gateway:
// an IPv6 address for an IPv4 destination") for anything to_json could not have written:
// another version, a missing or mistyped key, an invalid name, address or prefix, a
// number out of its field's range, table 0. Unknown keys are ignored (a newer sekishod may
// add some).
std::optional<LinkSnapshot> snapshot_from_json(const nlohmann::json& json, std::string& error);

}  // namespace sekisho::net
