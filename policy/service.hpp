#pragma once
// What a rule allows at layer 4: "tcp/502", "udp/5000-5010", "icmp/echo-request",
// "icmpv6/128" or "any".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sekisho::policy {

enum class Proto { Any, Tcp, Udp, Icmp, Icmpv6 };

struct ServiceItem {
  Proto proto = Proto::Any;
  std::uint16_t port_lo = 0;  // tcp/udp
  std::uint16_t port_hi = 0;
  int icmp_type = -1;  // icmp/icmpv6: the type; -1 never appears after parsing

  // True when every packet this item matches is matched by `other` too.
  bool within(const ServiceItem& other) const;
  std::string to_string() const;
  auto operator<=>(const ServiceItem&) const = default;
};

// Parses one service item; on failure `error` says what is wrong.
std::optional<ServiceItem> parse_service_item(std::string_view text, std::string& error);

std::string_view proto_name(Proto proto);
std::optional<Proto> parse_proto(std::string_view text);

// ICMP / ICMPv6 type names, as nft spells them ("echo-request"), or a number 0-255.
std::optional<int> parse_icmp_type(Proto proto, std::string_view text);
std::string icmp_type_name(Proto proto, int type);

}  // namespace sekisho::policy
