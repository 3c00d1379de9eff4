#include "policy/service.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace sekisho::policy {

namespace {

struct TypeName {
  int type;
  std::string_view name;
};

// The names nft uses, so compiled rules and explain output read the same.
constexpr std::array kIcmpTypes = {
    TypeName{0, "echo-reply"},           TypeName{3, "destination-unreachable"},
    TypeName{4, "source-quench"},        TypeName{5, "redirect"},
    TypeName{8, "echo-request"},         TypeName{9, "router-advertisement"},
    TypeName{10, "router-solicitation"}, TypeName{11, "time-exceeded"},
    TypeName{12, "parameter-problem"},   TypeName{13, "timestamp-request"},
    TypeName{14, "timestamp-reply"},     TypeName{15, "info-request"},
    TypeName{16, "info-reply"},          TypeName{17, "address-mask-request"},
    TypeName{18, "address-mask-reply"},
};

constexpr std::array kIcmpv6Types = {
    TypeName{1, "destination-unreachable"}, TypeName{2, "packet-too-big"},
    TypeName{3, "time-exceeded"},           TypeName{4, "parameter-problem"},
    TypeName{128, "echo-request"},          TypeName{129, "echo-reply"},
    TypeName{130, "mld-listener-query"},    TypeName{131, "mld-listener-report"},
    TypeName{132, "mld-listener-done"},     TypeName{133, "nd-router-solicit"},
    TypeName{134, "nd-router-advert"},      TypeName{135, "nd-neighbor-solicit"},
    TypeName{136, "nd-neighbor-advert"},    TypeName{137, "nd-redirect"},
    TypeName{138, "router-renumbering"},    TypeName{141, "ind-neighbor-solicit"},
    TypeName{142, "ind-neighbor-advert"},   TypeName{143, "mld2-listener-report"},
};

template <typename Table>
std::optional<int> lookup_type(const Table& table, std::string_view text) {
  for (const auto& entry : table) {
    if (entry.name == text) {
      return entry.type;
    }
  }
  return std::nullopt;
}

std::optional<int> parse_number(std::string_view text, int max) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string_view proto_name(Proto proto) {
  switch (proto) {
    case Proto::Any:
      return "any";
    case Proto::Tcp:
      return "tcp";
    case Proto::Udp:
      return "udp";
    case Proto::Icmp:
      return "icmp";
    case Proto::Icmpv6:
      return "icmpv6";
  }
  return "?";
}

std::optional<Proto> parse_proto(std::string_view text) {
  for (Proto p : {Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Icmpv6}) {
    if (proto_name(p) == text) {
      return p;
    }
  }
  return std::nullopt;
}

std::optional<int> parse_icmp_type(Proto proto, std::string_view text) {
  if (auto number = parse_number(text, 255)) {
    return number;
  }
  return proto == Proto::Icmp ? lookup_type(kIcmpTypes, text) : lookup_type(kIcmpv6Types, text);
}

std::string icmp_type_name(Proto proto, int type) {
  auto find = [&](const auto& table) -> std::string {
    for (const auto& entry : table) {
      if (entry.type == type) {
        return std::string(entry.name);
      }
    }
    return std::to_string(type);
  };
  return proto == Proto::Icmp ? find(kIcmpTypes) : find(kIcmpv6Types);
}

bool ServiceItem::within(const ServiceItem& other) const {
  if (other.proto == Proto::Any) {
    return true;
  }
  if (proto != other.proto) {
    return false;
  }
  if (proto == Proto::Tcp || proto == Proto::Udp) {
    return port_lo >= other.port_lo && port_hi <= other.port_hi;
  }
  return icmp_type == other.icmp_type;
}

std::string ServiceItem::to_string() const {
  std::string out(proto_name(proto));
  switch (proto) {
    case Proto::Any:
      break;
    case Proto::Tcp:
    case Proto::Udp:
      out += '/' + std::to_string(port_lo);
      if (port_hi != port_lo) {
        out += '-' + std::to_string(port_hi);
      }
      break;
    case Proto::Icmp:
    case Proto::Icmpv6:
      out += '/' + icmp_type_name(proto, icmp_type);
      break;
  }
  return out;
}

std::optional<ServiceItem> parse_service_item(std::string_view text, std::string& error) {
  if (text == "any") {
    return ServiceItem{};
  }
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    error = "a service is proto/port (tcp/502), proto/lo-hi, icmp/TYPE, icmpv6/TYPE or any";
    return std::nullopt;
  }
  auto proto = parse_proto(text.substr(0, slash));
  std::string_view rest = text.substr(slash + 1);
  if (!proto) {
    error = "unknown protocol '" + std::string(text.substr(0, slash)) +
            "'; use tcp, udp, icmp or icmpv6";
    return std::nullopt;
  }
  ServiceItem item;
  item.proto = *proto;
  if (*proto == Proto::Icmp || *proto == Proto::Icmpv6) {
    auto type = parse_icmp_type(*proto, rest);
    if (!type) {
      error = "unknown " + std::string(proto_name(*proto)) + " type '" + std::string(rest) +
              "'; use a name such as echo-request or a number 0-255";
      return std::nullopt;
    }
    item.icmp_type = *type;
    return item;
  }
  auto dash = rest.find('-');
  auto lo = parse_number(rest.substr(0, dash), 65535);
  auto hi = dash == std::string_view::npos ? lo : parse_number(rest.substr(dash + 1), 65535);
  if (!lo || !hi || *lo == 0 || *hi == 0) {
    error = "'" + std::string(rest) + "' is not a port 1-65535 or a range lo-hi";
    return std::nullopt;
  }
  if (*lo > *hi) {
    error = "port range " + std::string(rest) + " runs backwards";
    return std::nullopt;
  }
  item.port_lo = static_cast<std::uint16_t>(*lo);
  item.port_hi = static_cast<std::uint16_t>(*hi);
  return item;
}

}  // namespace sekisho::policy
