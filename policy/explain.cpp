#include "policy/explain.hpp"

#include <algorithm>

#include "policy/schedule.hpp"
#include "policy/units.hpp"

namespace sekisho::policy {

namespace {

bool service_matches(const ServiceItem& item, const Packet& packet) {
  if (item.proto == Proto::Any) {
    return true;
  }
  if (item.proto != packet.proto) {
    return false;
  }
  if (item.proto == Proto::Tcp || item.proto == Proto::Udp) {
    return packet.port >= item.port_lo && packet.port <= item.port_hi;
  }
  return packet.icmp_type == item.icmp_type;
}

bool side_matches(const Resolver& resolver, const std::vector<NameRef>& side,
                  const Endpoint& endpoint) {
  return std::any_of(side.begin(), side.end(),
                     [&](const NameRef& ref) { return resolver.matches(ref.name, endpoint); });
}

Verdict implicit_accept(std::string name, SourcePos pos) {
  Verdict verdict;
  verdict.accept = true;
  verdict.implicit = true;
  verdict.rule = std::move(name);
  verdict.pos = pos;
  verdict.reason = "a service the gateway opens by itself";
  return verdict;
}

// The gateway services that no rule names: each VPN's listen port from the WAN, the local
// MQTT broker from its zone, and the gateway's own connection to the cloud broker.
std::optional<Verdict> implicit_service(const Resolver& resolver, const Packet& packet) {
  const Policy& policy = resolver.policy();
  if (packet.to.gateway && !packet.from.gateway) {
    const Zone* from_zone = resolver.zone_of(packet.from.address);
    for (const Vpn& vpn : policy.vpns) {
      bool source_ok = vpn.source_networks.empty() ||
                       std::any_of(vpn.source_networks.begin(), vpn.source_networks.end(),
                                   [&](const Cidr& c) { return c.contains(packet.from.address); });
      if (packet.proto == Proto::Udp && packet.port == vpn.listen_port && from_zone &&
          from_zone == resolver.wan_zone() && source_ok) {
        return implicit_accept("WireGuard listen port of vpn " + vpn.name, vpn.pos);
      }
    }
    if (policy.cloud && packet.proto == Proto::Tcp &&
        packet.port == policy.cloud->local_broker_port &&
        packet.to.address == policy.cloud->local_broker_address &&
        from_zone == resolver.zone_of(policy.cloud->local_broker_address)) {
      return implicit_accept("local MQTT broker", policy.cloud->local_broker_pos);
    }
  }
  if (packet.from.gateway && !packet.to.gateway && policy.cloud && packet.proto == Proto::Tcp &&
      packet.port == policy.cloud->port && resolver.matches(policy.cloud->broker.name, packet.to)) {
    return implicit_accept("gateway to cloud broker " + policy.cloud->broker.name,
                           policy.cloud->pos);
  }
  return std::nullopt;
}

}  // namespace

Verdict explain(const Resolver& resolver, const date::time_zone& zone, const Packet& packet,
                std::chrono::sys_seconds at) {
  const Policy& policy = resolver.policy();
  Verdict verdict;
  if (!packet.from.gateway && !packet.to.gateway &&
      packet.from.address.family != packet.to.address.family) {
    verdict.reason = "the addresses are of different families (IPv4/IPv6)";
    return verdict;
  }
  for (const Endpoint* end : {&packet.from, &packet.to}) {
    if (!end->gateway && !resolver.zone_of(end->address)) {
      verdict.reason = end->address.to_string() + " is in no zone: no interface leads there";
      return verdict;
    }
  }
  if (auto implicit = implicit_service(resolver, packet)) {
    return *implicit;
  }
  const Rule* closed_match = nullptr;
  for (const Rule& rule : policy.rules) {
    if (!side_matches(resolver, rule.from, packet.from) ||
        !side_matches(resolver, rule.to, packet.to)) {
      continue;
    }
    auto items = resolver.items_of(rule.services);
    if (std::none_of(items.begin(), items.end(),
                     [&](const ServiceItem& item) { return service_matches(item, packet); })) {
      continue;
    }
    if (rule.schedule) {
      const Schedule* schedule = policy.find_schedule(rule.schedule->name);
      if (!is_open(*schedule, zone, at)) {
        closed_match = closed_match ? closed_match : &rule;
        continue;
      }
      verdict.schedule = schedule->name;
      verdict.schedule_open = true;
    }
    verdict.accept = true;
    verdict.rule = rule.name;
    verdict.pos = rule.pos;
    verdict.reason = "allowed by a rule";
    return verdict;
  }
  if (closed_match) {
    verdict.rule = closed_match->name;
    verdict.pos = closed_match->pos;
    verdict.schedule = closed_match->schedule->name;
    verdict.schedule_open = false;
    verdict.reason = "the matching rule's schedule is closed";
    return verdict;
  }
  if (!packet.from.gateway) {
    const Zone* from_zone = resolver.zone_of(packet.from.address);
    if (from_zone && from_zone->role == ZoneRole::Vpn && !packet.to.gateway) {
      verdict.reason = "no rule; VPN peers reach machines only through jump sessions";
      return verdict;
    }
  }
  verdict.reason = "no rule";
  return verdict;
}

std::optional<std::chrono::sys_seconds> parse_instant(std::string_view text,
                                                      const date::time_zone& zone,
                                                      std::string& error) {
  error = "'" + std::string(text) + "' is not a time YYYY-MM-DDTHH:MM[:SS][Z|+hh:mm]";
  if (text.size() < 16 || text[10] != 'T' || text[13] != ':') {
    return std::nullopt;
  }
  auto day = parse_date(text.substr(0, 10));
  auto hour = parse_fixed_digits(text.substr(11, 2), 23);
  auto minute = parse_fixed_digits(text.substr(14, 2), 59);
  std::string_view rest = text.substr(16);
  std::optional<int> second = 0;
  if (!rest.empty() && rest.front() == ':') {
    if (rest.size() < 3) {
      return std::nullopt;
    }
    second = parse_fixed_digits(rest.substr(1, 2), 59);
    rest = rest.substr(3);
  }
  if (!day || !hour || !minute || !second) {
    return std::nullopt;
  }
  const auto local = date::local_days{*day} + std::chrono::hours{*hour} +
                     std::chrono::minutes{*minute} + std::chrono::seconds{*second};
  if (rest.empty()) {
    auto info = zone.get_info(local);
    if (info.result == date::local_info::nonexistent) {
      error = "'" + std::string(text) + "' does not exist in " + std::string(zone.name()) +
              ": the clocks skip it (daylight saving time)";
      return std::nullopt;
    }
    return std::chrono::time_point_cast<std::chrono::seconds>(
        zone.to_sys(local, date::choose::earliest));
  }
  std::chrono::seconds offset{0};
  if (rest == "Z") {
    offset = std::chrono::seconds{0};
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    auto oh = parse_fixed_digits(rest.substr(1, 2), 23);
    auto om = parse_fixed_digits(rest.substr(4, 2), 59);
    if (!oh || !om) {
      return std::nullopt;
    }
    offset = std::chrono::hours{*oh} + std::chrono::minutes{*om};
    if (rest[0] == '-') {
      offset = -offset;
    }
  } else {
    return std::nullopt;
  }
  return std::chrono::sys_seconds{local.time_since_epoch() - offset};
}

}  // namespace sekisho::policy
