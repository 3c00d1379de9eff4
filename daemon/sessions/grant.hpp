#pragma once
// What a jump session lets through, as the policy says it at the moment it is opened: one
// VPN peer (its tunnel addresses) to one maintenance target (its host's addresses and the
// target's TCP/UDP services). In the kernel each session is a few elements of the
// sessions_v4/v6 maps, `peer address . target address . protocol . port range`, mapped to
// the session's number (the connection's ct mark) and timing out at its deadline.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::sessions {

struct Grant {
  std::string peer;  // the VPN peer's name in the policy
  std::string peer_public_key;
  std::vector<policy::IpAddress> peer_addresses;
  std::string target;  // the maintenance target's name
  std::string host;
  std::vector<policy::IpAddress> target_addresses;
  std::vector<policy::ServiceItem> services;  // TCP and UDP only

  bool operator==(const Grant&) const = default;
};

// The grant for `peer` and `target` in `policy`, or nullopt with `error` saying why not
// (no remote_maintenance, unknown names, not paired, nothing a session can carry).
std::optional<Grant> grant_for(const policy::Policy& policy, const std::string& peer,
                               const std::string& target, std::string& error);

// The map elements of a grant for one family (sessions_v4: V4), each mapping to `mark`
// and expiring after `timeout_ms`.
std::vector<ir::Element> grant_elements(const Grant& grant, policy::Family family,
                                        std::uint32_t mark, std::uint64_t timeout_ms);

// Whether two grants share a packet: the kernel keeps one session per element.
bool overlaps(const Grant& a, const Grant& b);

// "tcp/5900", "udp/5000-5010".
std::vector<std::string> service_texts(const Grant& grant);

}  // namespace sekisho::sessions
