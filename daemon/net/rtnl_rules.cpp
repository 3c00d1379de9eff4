#include "daemon/net/rtnl_rules.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "daemon/net/netlink_attributes.hpp"
#include "daemon/net/netlink_transaction.hpp"

namespace sekisho::net {

namespace {

constexpr std::size_t kRequestSize = 256;
constexpr int kDumpAttempts = 3;

std::error_code errno_code(int error) {
  return {error, std::system_category()};
}

int family_number(policy::Family family) {
  return family == policy::Family::V4 ? AF_INET : AF_INET6;
}

bool valid_rule(const MarkRule& rule) {
  return rule.table != 0 && rule.mask != 0 && (rule.mark & ~rule.mask) == 0;
}

}  // namespace

std::string to_string(const MarkRule& rule) {
  std::ostringstream text;
  text << (rule.family == policy::Family::V4 ? "ipv4" : "ipv6") << " priority " << rule.priority
       << " fwmark 0x" << std::hex << rule.mark << "/0x" << rule.mask << std::dec << " lookup "
       << rule.table << " proto " << static_cast<unsigned>(rule.protocol);
  return text.str();
}

Request mark_rule_request(std::uint16_t type, std::uint16_t flags, const MarkRule& rule) {
  Request request(type, static_cast<std::uint16_t>(NLM_F_ACK | flags), kRequestSize);
  auto* header = request.put_fixed<fib_rule_hdr>();
  header->family = static_cast<std::uint8_t>(family_number(rule.family));
  header->action = FR_ACT_TO_TBL;
  // Ids above 255 do not fit the header: RT_TABLE_UNSPEC there, the id in FRA_TABLE.
  header->table =
      rule.table < 256 ? static_cast<std::uint8_t>(rule.table) : std::uint8_t{RT_TABLE_UNSPEC};
  request.put_u32(FRA_PRIORITY, rule.priority);
  request.put_u32(FRA_FWMARK, rule.mark);
  request.put_u32(FRA_FWMASK, rule.mask);
  request.put_u32(FRA_TABLE, rule.table);
  request.put_u8(FRA_PROTOCOL, rule.protocol);
  return request;
}

std::optional<MarkRule> parse_mark_rule(const nlmsghdr* message, std::error_code& error) {
  error = {};
  const auto* fixed = fixed_header<fib_rule_hdr>(message);
  std::array<const nlattr*, FRA_MAX + 1> attributes{};
  if (fixed == nullptr || !table_after<fib_rule_hdr>(message, attributes)) {
    error = errno_code(EBADMSG);
    return std::nullopt;
  }
  fib_rule_hdr header{};
  std::memcpy(&header, fixed, sizeof header);
  if ((header.family != AF_INET && header.family != AF_INET6) || header.action != FR_ACT_TO_TBL ||
      header.dst_len != 0 || header.src_len != 0 || header.tos != 0 ||
      (header.flags & FIB_RULE_INVERT) != 0) {
    return std::nullopt;
  }
  // Any selector besides the mark makes it another rule.
  for (const int type :
       {FRA_DST, FRA_SRC, FRA_IIFNAME, FRA_OIFNAME, FRA_GOTO, FRA_FLOW, FRA_TUN_ID, FRA_L3MDEV,
        FRA_UID_RANGE, FRA_IP_PROTO, FRA_SPORT_RANGE, FRA_DPORT_RANGE}) {
    if (attributes[static_cast<std::size_t>(type)] != nullptr) {
      return std::nullopt;
    }
  }
  // The kernel sends the suppressors always or often, -1 when unset (as we add rules).
  for (const int type : {FRA_SUPPRESS_PREFIXLEN, FRA_SUPPRESS_IFGROUP}) {
    std::uint32_t suppress = 0;
    if (const nlattr* attribute = attributes[static_cast<std::size_t>(type)]) {
      if (!read(attribute, suppress)) {
        error = errno_code(EBADMSG);
        return std::nullopt;
      }
      if (suppress != UINT32_MAX) {
        return std::nullopt;
      }
    }
  }
  MarkRule rule;
  rule.family = header.family == AF_INET ? policy::Family::V4 : policy::Family::V6;
  rule.table = header.table;
  bool ok = true;
  if (attributes[FRA_PRIORITY] != nullptr)
    ok = ok && read(attributes[FRA_PRIORITY], rule.priority);
  if (attributes[FRA_FWMARK] != nullptr)
    ok = ok && read(attributes[FRA_FWMARK], rule.mark);
  if (attributes[FRA_FWMASK] != nullptr)
    ok = ok && read(attributes[FRA_FWMASK], rule.mask);
  if (attributes[FRA_TABLE] != nullptr)
    ok = ok && read(attributes[FRA_TABLE], rule.table);
  if (attributes[FRA_PROTOCOL] != nullptr)
    ok = ok && read(attributes[FRA_PROTOCOL], rule.protocol);
  if (!ok) {
    error = errno_code(EBADMSG);
    return std::nullopt;
  }
  if (attributes[FRA_FWMARK] == nullptr || !valid_rule(rule)) {
    return std::nullopt;
  }
  return rule;
}

std::error_code list_mark_rules(NetlinkSocket& socket, std::uint8_t protocol,
                                std::vector<MarkRule>& out, int* other) {
  std::vector<MarkRule> rules;
  int others = 0;
  for (const policy::Family family : {policy::Family::V4, policy::Family::V6}) {
    std::vector<MarkRule> found;
    int left_out = 0;
    std::error_code error = retry_interrupted(kDumpAttempts, [&]() -> std::error_code {
      found.clear();
      left_out = 0;
      Request request(RTM_GETRULE, NLM_F_DUMP, kRequestSize);
      request.put_fixed<fib_rule_hdr>()->family = static_cast<std::uint8_t>(family_number(family));
      return transact(socket, request, [&](const nlmsghdr* answer) -> std::error_code {
        if (answer->nlmsg_type != RTM_NEWRULE) {
          return {};
        }
        const auto* header = fixed_header<fib_rule_hdr>(answer);
        if (header == nullptr) {
          return errno_code(EBADMSG);
        }
        std::array<const nlattr*, FRA_MAX + 1> attributes{};
        std::uint8_t made_by = 0;
        if (!table_after<fib_rule_hdr>(answer, attributes) ||
            (attributes[FRA_PROTOCOL] != nullptr && !read(attributes[FRA_PROTOCOL], made_by))) {
          return errno_code(EBADMSG);
        }
        if (header->family != family_number(family) || made_by != protocol) {
          return {};
        }
        std::error_code bad;
        if (std::optional<MarkRule> rule = parse_mark_rule(answer, bad)) {
          found.push_back(*rule);
        } else if (bad) {
          return bad;
        } else {
          ++left_out;
        }
        return {};
      });
    });
    // A kernel without IPv6 has no rules of it.
    if (error && family == policy::Family::V6 && error.value() == EAFNOSUPPORT) {
      error = {};
    }
    if (error) {
      return error;
    }
    rules.insert(rules.end(), found.begin(), found.end());
    others += left_out;
  }
  if (other != nullptr) {
    *other = others;
  }
  out = std::move(rules);
  return {};
}

std::error_code add_mark_rule(NetlinkSocket& socket, const MarkRule& rule) {
  if (!valid_rule(rule)) {
    return errno_code(EINVAL);
  }
  Request request = mark_rule_request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule);
  return transact(socket, request);
}

std::error_code delete_mark_rule(NetlinkSocket& socket, const MarkRule& rule) {
  if (!valid_rule(rule)) {
    return errno_code(EINVAL);
  }
  Request request = mark_rule_request(RTM_DELRULE, 0, rule);
  return transact(socket, request);
}

}  // namespace sekisho::net
