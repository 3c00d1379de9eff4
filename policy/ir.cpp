#include "policy/ir.hpp"

#include <algorithm>
#include <cstring>

namespace sekisho::ir {

std::size_t field_size(FieldType type) {
  switch (type) {
    case FieldType::Ipv4Addr:
      return 4;
    case FieldType::Ipv6Addr:
      return 16;
    case FieldType::InetProto:
      return 1;
    case FieldType::InetService:
      return 2;
    case FieldType::IcmpType:
      return 1;
    case FieldType::Icmpv6Type:
      return 1;
    case FieldType::IfName:
      return 16;
    case FieldType::EtherAddr:
      return 6;
    case FieldType::CtState:
      return 4;
    case FieldType::NfProto:
      return 1;
    case FieldType::Mark:
      return 4;
    case FieldType::Boolean:
      return 1;
  }
  return 0;
}

std::string_view field_type_name(FieldType type) {
  switch (type) {
    case FieldType::Ipv4Addr:
      return "ipv4_addr";
    case FieldType::Ipv6Addr:
      return "ipv6_addr";
    case FieldType::InetProto:
      return "inet_proto";
    case FieldType::InetService:
      return "inet_service";
    case FieldType::IcmpType:
      return "icmp_type";
    case FieldType::Icmpv6Type:
      return "icmpv6_type";
    case FieldType::IfName:
      return "ifname";
    case FieldType::EtherAddr:
      return "ether_addr";
    case FieldType::CtState:
      return "ct_state";
    case FieldType::NfProto:
      return "nf_proto";
    case FieldType::Mark:
      return "mark";
    case FieldType::Boolean:
      return "boolean";
  }
  return "?";
}

FieldType selector_type(Selector selector) {
  switch (selector) {
    case Selector::IifName:
    case Selector::OifName:
      return FieldType::IfName;
    case Selector::NfProto:
      return FieldType::NfProto;
    case Selector::L4Proto:
      return FieldType::InetProto;
    case Selector::IpSaddr:
    case Selector::IpDaddr:
      return FieldType::Ipv4Addr;
    case Selector::Ip6Saddr:
    case Selector::Ip6Daddr:
      return FieldType::Ipv6Addr;
    case Selector::ThDport:
      return FieldType::InetService;
    case Selector::IcmpType:
      return FieldType::IcmpType;
    case Selector::Icmpv6Type:
      return FieldType::Icmpv6Type;
    case Selector::EtherSaddr:
      return FieldType::EtherAddr;
    case Selector::CtState:
      return FieldType::CtState;
    case Selector::MetaMark:
      return FieldType::Mark;
    case Selector::SocketTransparent:
    case Selector::SocketWildcard:
      return FieldType::Boolean;
  }
  return FieldType::NfProto;
}

std::string_view selector_name(Selector selector) {
  switch (selector) {
    case Selector::IifName:
      return "iifname";
    case Selector::OifName:
      return "oifname";
    case Selector::NfProto:
      return "meta nfproto";
    case Selector::L4Proto:
      return "meta l4proto";
    case Selector::IpSaddr:
      return "ip saddr";
    case Selector::IpDaddr:
      return "ip daddr";
    case Selector::Ip6Saddr:
      return "ip6 saddr";
    case Selector::Ip6Daddr:
      return "ip6 daddr";
    case Selector::ThDport:
      return "th dport";
    case Selector::IcmpType:
      return "icmp type";
    case Selector::Icmpv6Type:
      return "icmpv6 type";
    case Selector::EtherSaddr:
      return "ether saddr";
    case Selector::CtState:
      return "ct state";
    case Selector::MetaMark:
      return "meta mark";
    case Selector::SocketTransparent:
      return "socket transparent";
    case Selector::SocketWildcard:
      return "socket wildcard";
  }
  return "?";
}

SetId Ruleset::add_set(Set set) {
  SetId id{static_cast<std::uint32_t>(sets.size())};
  sets.push_back(std::move(set));
  return id;
}

const RuntimeSets::Scheduled* RuntimeSets::find_scheduled(std::string_view schedule) const {
  auto it = std::find_if(scheduled.begin(), scheduled.end(),
                         [&](const Scheduled& s) { return s.schedule == schedule; });
  return it == scheduled.end() ? nullptr : &*it;
}

const Set* Ruleset::find_set(std::string_view name) const {
  auto it = std::find_if(sets.begin(), sets.end(), [&](const Set& s) { return s.name == name; });
  return it == sets.end() ? nullptr : &*it;
}

const Chain* Ruleset::find_chain(std::string_view name) const {
  auto it =
      std::find_if(chains.begin(), chains.end(), [&](const Chain& c) { return c.name == name; });
  return it == chains.end() ? nullptr : &*it;
}

std::size_t Ruleset::rule_count() const {
  std::size_t count = 0;
  for (const Chain& chain : chains) {
    count += chain.rules.size();
  }
  return count;
}

std::size_t Ruleset::element_count() const {
  std::size_t count = 0;
  for (const Set& set : sets) {
    count += set.elements.size() + set.scheduled_elements.size();
  }
  return count;
}

Value value_of_bytes(const std::uint8_t* bytes, std::size_t size) {
  Value value;
  value.size = static_cast<std::uint8_t>(size);
  std::memcpy(value.bytes.data(), bytes, size);
  return value;
}

Value value_of_number(std::uint64_t number, std::size_t size) {
  Value value;
  value.size = static_cast<std::uint8_t>(size);
  for (std::size_t i = 0; i < size; ++i) {
    value.bytes[size - 1 - i] = static_cast<std::uint8_t>(number >> (8 * i));
  }
  return value;
}

Value value_of_ifname(std::string_view name) {
  Value value;
  value.size = 16;
  std::memcpy(value.bytes.data(), name.data(), std::min<std::size_t>(name.size(), 15));
  return value;
}

Range single(Value value) {
  return Range{value, value};
}

}  // namespace sekisho::ir
