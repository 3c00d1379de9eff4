#pragma once
// rtnetlink policy routing rules (`ip rule`): the one kind sekishod needs, "packets
// carrying fwmark M under mask K look up table T", added, deleted and listed by the
// protocol number that marks who made them (FRA_PROTOCOL, kernels since 4.17). The
// contract of rtnl.hpp holds: through a kept NETLINK_ROUTE socket, blocking until the
// kernel answered, errno in std::system_category(), answers parsed defensively.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_socket.hpp"
#include "policy/address.hpp"

struct nlmsghdr;

namespace sekisho::net {

struct MarkRule {
  policy::Family family = policy::Family::V4;
  std::uint32_t priority = 0;  // FRA_PRIORITY: lower is looked at first (0 is the local table)
  std::uint32_t mark = 0;      // FRA_FWMARK
  std::uint32_t mask = 0;      // FRA_FWMASK
  std::uint32_t table = 0;     // FRA_TABLE; 0 is no table (EINVAL)
  std::uint8_t protocol = 0;   // FRA_PROTOCOL: who made the rule

  bool operator==(const MarkRule&) const = default;
};

// Like `ip rule`: "ipv4 priority 1021 fwmark 0x10000/0x10000 lookup 1021 proto 83".
std::string to_string(const MarkRule& rule);

// The request for RTM_NEWRULE (`flags` NLM_F_CREATE | NLM_F_EXCL) or RTM_DELRULE: a
// fib_rule_hdr of action FR_ACT_TO_TBL and every field as an attribute. Exposed for tests.
Request mark_rule_request(std::uint16_t type, std::uint16_t flags, const MarkRule& rule);

// The MarkRule an RTM_NEWRULE message of a dump describes; nullopt for a rule that is not
// exactly one (another action, addresses, interfaces, ports, a goto...), and for a
// malformed message (EBADMSG in `error`).
std::optional<MarkRule> parse_mark_rule(const nlmsghdr* message, std::error_code& error);

// Every IPv4 and IPv6 rule of `protocol` that is a MarkRule, in the kernel's order (IPv4
// first), replacing `out`; a rule of that protocol that is something else is counted in
// `*other` (it is never dropped silently). Inconsistent dumps are repeated.
std::error_code list_mark_rules(NetlinkSocket& socket, std::uint8_t protocol,
                                std::vector<MarkRule>& out, int* other = nullptr);

// Adds `rule`; EEXIST when the same rule is there. The kernel takes no mask without a mark.
std::error_code add_mark_rule(NetlinkSocket& socket, const MarkRule& rule);

// Deletes a rule equal to `rule`; ENOENT when there is none.
std::error_code delete_mark_rule(NetlinkSocket& socket, const MarkRule& rule);

}  // namespace sekisho::net
