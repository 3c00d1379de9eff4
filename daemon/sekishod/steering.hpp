#pragma once
// The policy routing the plugins' steering needs (ir::Steering; the nft rules are the
// compiler's, chain `steering`): packets a steering rule marked must be delivered to this
// host, where the inspector's transparent socket takes them, instead of being forwarded.
// For the policy in force, while it steers anything:
//
//   ip rule add fwmark <mark>/<plugin's bits> lookup 1021 priority 1021 proto 83  (IPv4, IPv6)
//   ip route add local 0.0.0.0/0 dev lo table 1021 proto 83  (and local ::/0)
//
// Protocol 83 marks them as sekishod's: after every apply of a whole table the kernel is
// made to hold exactly these (what a policy no longer needs is removed), so a restarted
// daemon finds its own rules and routes and keeps or removes them, and never touches
// anyone else's. Kept when sekishod stops, as its table is.

#include <cstdint>
#include <vector>

#include "daemon/net/netlink_socket.hpp"
#include "daemon/net/rtnl.hpp"
#include "daemon/net/rtnl_rules.hpp"
#include "daemon/sekishod/subsystem.hpp"

namespace sekisho::daemon {

inline constexpr std::uint32_t kSteeringTable = 1021;
inline constexpr std::uint32_t kSteeringRulePriority = 1021;
inline constexpr std::uint8_t kSteeringProtocol = 83;

// The ip rules `ruleset`'s steering needs (none when it steers nothing), and the local
// routes that any of them needs.
std::vector<net::MarkRule> steering_rules(const ir::Ruleset& ruleset);
std::vector<net::Route> steering_routes(int loopback_index);

class Steering : public Subsystem {
 public:
  explicit Steering(net::NetlinkSocket& route_socket) : socket_(route_socket) {}

  std::string_view name() const override { return "steering"; }
  // What the ruleset about to be applied needs.
  void fill(ir::Ruleset& ruleset, const policy::Policy& policy) override;
  // Makes the kernel hold exactly that.
  void after_apply(const policy::Policy& policy) override;

 private:
  net::NetlinkSocket& socket_;
  std::vector<net::MarkRule> rules_;  // what the ruleset being applied needs
  // Whether the kernel may hold rules or routes of ours: true until an apply found it
  // holds none and needs none (a daemon restarted after one that steered finds them).
  bool may_hold_some_ = true;
};

}  // namespace sekisho::daemon
