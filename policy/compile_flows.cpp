#include "policy/compile_flows.hpp"

namespace sekisho::policy {

namespace {

struct Place {
  const Zone* zone;  // nullptr: the gateway
  Cidr network;
};

Cidr everything(Family family) {
  Cidr all;
  all.network.family = family;
  all.prefix = 0;
  return all;
}

// Where the addresses behind a rule's name are: zone and prefix.
std::vector<Place> places_of(const Resolver& resolver, std::string_view name) {
  const Policy& policy = resolver.policy();
  std::vector<Place> places;
  auto add_address = [&](const IpAddress& address) {
    if (const Zone* zone = resolver.zone_of(address)) {
      places.push_back(Place{zone, host_cidr(address)});
    }
  };
  switch (resolver.kind_of(name)) {
    case NameKind::Gateway:
      places.push_back(Place{nullptr, everything(Family::V4)});
      places.push_back(Place{nullptr, everything(Family::V6)});
      break;
    case NameKind::Zone: {
      const Zone* zone = policy.find_zone(name);
      if (!zone->declares_networks && zone->role != ZoneRole::Vpn) {
        // The interfaces already say the packet is in this zone.
        places.push_back(Place{zone, everything(Family::V4)});
        places.push_back(Place{zone, everything(Family::V6)});
      }
      for (const Cidr& network : zone->networks) {
        places.push_back(Place{zone, network});
      }
      break;
    }
    case NameKind::Peer:
      for (const IpAddress& address : policy.find_peer(name)->addresses) {
        add_address(address);
      }
      break;
    case NameKind::Host:
    case NameKind::Group:
      for (const Host* host : resolver.hosts_of(name)) {
        for (const IpAddress& address : host->addresses) {
          add_address(address);
        }
      }
      break;
    case NameKind::None:
      break;
  }
  return places;
}

bool fits_family(const ServiceItem& item, Family family) {
  return !(item.proto == Proto::Icmp && family != Family::V4) &&
         !(item.proto == Proto::Icmpv6 && family != Family::V6);
}

void add_flows(const std::vector<Place>& from, const std::vector<Place>& to,
               const std::vector<ServiceItem>& items, const std::string& schedule, bool log,
               const ir::Origin& origin, std::vector<Flow>& out) {
  for (const Place& source : from) {
    for (const Place& destination : to) {
      const Family family = source.network.network.family;
      if (destination.network.network.family != family ||
          (source.zone == nullptr && destination.zone == nullptr)) {
        continue;
      }
      for (const ServiceItem& item : items) {
        if (fits_family(item, family)) {
          out.push_back(Flow{source.zone, destination.zone, source.network, destination.network,
                             item, schedule, log, origin});
        }
      }
    }
  }
}

}  // namespace

std::string pair_chain_name(const Zone* from, const Zone* to) {
  return (from ? from->name : std::string(kGatewayName)) + "_to_" +
         (to ? to->name : std::string(kGatewayName));
}

std::vector<Flow> expand_flows(const Resolver& resolver) {
  const Policy& policy = resolver.policy();
  std::vector<Flow> flows;
  for (const Rule& rule : policy.rules) {
    std::vector<Place> from;
    std::vector<Place> to;
    for (const NameRef& ref : rule.from) {
      auto places = places_of(resolver, ref.name);
      from.insert(from.end(), places.begin(), places.end());
    }
    for (const NameRef& ref : rule.to) {
      auto places = places_of(resolver, ref.name);
      to.insert(to.end(), places.begin(), places.end());
    }
    add_flows(from, to, resolver.items_of(rule.services),
              rule.schedule ? rule.schedule->name : std::string{}, rule.log,
              ir::Origin{rule.pos, "rule '" + rule.name + "'"}, flows);
  }

  // Implicit: each VPN's listen port from the WAN (optionally from source_networks only).
  if (const Zone* wan = resolver.wan_zone()) {
    for (const Vpn& vpn : policy.vpns) {
      std::vector<Place> sources;
      for (const Cidr& network : vpn.source_networks) {
        sources.push_back(Place{wan, network});
      }
      if (sources.empty()) {
        sources = {Place{wan, everything(Family::V4)}, Place{wan, everything(Family::V6)}};
      }
      ServiceItem port{Proto::Udp, vpn.listen_port, vpn.listen_port, -1};
      add_flows(sources, places_of(resolver, kGatewayName), {port}, {}, false,
                ir::Origin{vpn.pos, "implicit: WireGuard listen port of vpn " + vpn.name}, flows);
    }
  }
  if (policy.cloud) {
    const CloudMqtt& cloud = *policy.cloud;
    // Implicit: the local MQTT broker, from the zone holding its address.
    if (const Zone* zone = resolver.zone_of(cloud.local_broker_address)) {
      std::vector<Place> sources;
      for (const Cidr& network : zone->networks) {
        sources.push_back(Place{zone, network});
      }
      ServiceItem port{Proto::Tcp, cloud.local_broker_port, cloud.local_broker_port, -1};
      add_flows(sources, {Place{nullptr, host_cidr(cloud.local_broker_address)}}, {port}, {}, false,
                ir::Origin{cloud.local_broker_pos, "implicit: local MQTT broker"}, flows);
    }
    // Implicit: the gateway's own connection to the cloud broker's literal addresses.
    ServiceItem port{Proto::Tcp, cloud.port, cloud.port, -1};
    add_flows(places_of(resolver, kGatewayName), places_of(resolver, cloud.broker.name), {port}, {},
              false, ir::Origin{cloud.pos, "implicit: cloud broker " + cloud.broker.name}, flows);
  }
  return flows;
}

}  // namespace sekisho::policy
