#include "policy/resolve.hpp"

#include <algorithm>
#include <set>

namespace sekisho::policy {

Resolver::Resolver(const Policy& policy) : policy_(policy) {
  // Later kinds do not replace earlier ones; duplicates are reported by the checks.
  for (const Zone& zone : policy.zones) {
    kinds_.emplace(zone.name, NameKind::Zone);
    if (zone.role == ZoneRole::Vpn) {
      continue;
    }
    if (!zone.declares_networks) {
      rest_zone_[0] = rest_zone_[0] ? rest_zone_[0] : &zone;
      rest_zone_[1] = rest_zone_[1] ? rest_zone_[1] : &zone;
    }
    for (const Cidr& network : zone.networks) {
      if (network.prefix == 0) {
        const Zone*& rest = rest_zone_[network.network.family == Family::V4 ? 0 : 1];
        rest = rest ? rest : &zone;
      }
    }
    // The WAN zone is the one holding wan.interface (other zones may have role wan too).
    if (policy.wan &&
        std::any_of(zone.interfaces.begin(), zone.interfaces.end(),
                    [&](const NameRef& i) { return i.name == policy.wan->interface.name; })) {
      wan_zone_ = &zone;
    }
  }
  for (const Host& host : policy.hosts) {
    kinds_.emplace(host.name, NameKind::Host);
  }
  for (const Group& group : policy.groups) {
    kinds_.emplace(group.name, NameKind::Group);
  }
  for (const Vpn& vpn : policy.vpns) {
    for (const VpnPeer& peer : vpn.peers) {
      kinds_.emplace(peer.name, NameKind::Peer);
    }
    for (const InterfaceAddress& address : vpn.addresses) {
      gateway_addresses_.push_back(address.address);
    }
  }
  if (policy.cloud) {
    gateway_addresses_.push_back(policy.cloud->local_broker_address);
  }
  kinds_[std::string(kGatewayName)] = NameKind::Gateway;
}

NameKind Resolver::kind_of(std::string_view name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? NameKind::None : it->second;
}

const std::vector<const Host*>& Resolver::hosts_of(std::string_view name) const {
  auto cached = host_cache_.find(name);
  if (cached != host_cache_.end()) {
    return cached->second;
  }
  std::vector<const Host*> hosts;
  std::set<std::string_view> seen_groups;
  std::vector<std::string_view> pending{name};
  while (!pending.empty()) {
    std::string_view current = pending.back();
    pending.pop_back();
    if (const Host* host = policy_.find_host(current)) {
      if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
        hosts.push_back(host);
      }
    } else if (const Group* group = policy_.find_group(current)) {
      if (seen_groups.insert(group->name).second) {
        for (auto it = group->members.rbegin(); it != group->members.rend(); ++it) {
          pending.push_back(it->name);
        }
      }
    }
  }
  return host_cache_.emplace(std::string(name), std::move(hosts)).first->second;
}

const Zone* Resolver::declared_zone_of(const IpAddress& address) const {
  for (const Zone& zone : policy_.zones) {
    for (const Cidr& network : zone.networks) {
      if (network.prefix > 0 && network.contains(address)) {
        return &zone;
      }
    }
  }
  return nullptr;
}

const Zone* Resolver::zone_of(const IpAddress& address) const {
  const Zone* declared = declared_zone_of(address);
  return declared ? declared : rest_zone_[address.family == Family::V4 ? 0 : 1];
}

bool Resolver::in_declared_network(const IpAddress& address) const {
  return declared_zone_of(address) != nullptr;
}

const Zone* Resolver::zone_of_vpn(std::string_view vpn) const {
  for (const Zone& zone : policy_.zones) {
    if (zone.vpn && zone.vpn->name == vpn) {
      return &zone;
    }
  }
  return nullptr;
}

bool Resolver::is_gateway_address(const IpAddress& address) const {
  return std::find(gateway_addresses_.begin(), gateway_addresses_.end(), address) !=
         gateway_addresses_.end();
}

std::optional<IpAddress> Resolver::gateway_address_facing(const IpAddress& peer) const {
  const Zone* zone = zone_of(peer);
  for (const IpAddress& own : gateway_addresses_) {
    if (own.family == peer.family && zone_of(own) == zone) {
      return own;
    }
  }
  return std::nullopt;
}

Endpoint Resolver::endpoint_for(const IpAddress& address) const {
  return Endpoint{is_gateway_address(address), address};
}

bool Resolver::matches(std::string_view name, const Endpoint& endpoint) const {
  switch (kind_of(name)) {
    case NameKind::Gateway:
      return endpoint.gateway;
    case NameKind::None:
      return false;
    default:
      break;
  }
  if (endpoint.gateway) {
    return false;
  }
  switch (kind_of(name)) {
    case NameKind::Zone:
      return zone_of(endpoint.address) == policy_.find_zone(name);
    case NameKind::Peer: {
      const VpnPeer* peer = policy_.find_peer(name);
      return std::find(peer->addresses.begin(), peer->addresses.end(), endpoint.address) !=
             peer->addresses.end();
    }
    default:
      for (const Host* host : hosts_of(name)) {
        if (std::find(host->addresses.begin(), host->addresses.end(), endpoint.address) !=
            host->addresses.end()) {
          return true;
        }
      }
      return false;
  }
}

std::vector<const Zone*> Resolver::zones_of(std::string_view name) const {
  std::vector<const Zone*> zones;
  auto add = [&](const Zone* zone) {
    if (zone && std::find(zones.begin(), zones.end(), zone) == zones.end()) {
      zones.push_back(zone);
    }
  };
  switch (kind_of(name)) {
    case NameKind::Zone:
      add(policy_.find_zone(name));
      break;
    case NameKind::Peer: {
      const Vpn* vpn = nullptr;
      policy_.find_peer(name, &vpn);
      add(zone_of_vpn(vpn->name));
      break;
    }
    case NameKind::Host:
    case NameKind::Group:
      for (const Host* host : hosts_of(name)) {
        for (const IpAddress& address : host->addresses) {
          add(zone_of(address));
        }
      }
      break;
    default:
      break;
  }
  return zones;
}

std::vector<AddressAtom> Resolver::atoms_of(const std::vector<NameRef>& names) const {
  std::vector<AddressAtom> atoms;
  auto add_address = [&](const IpAddress& address) {
    atoms.push_back(AddressAtom{AddressAtom::Kind::Network, host_cidr(address), nullptr});
  };
  for (const NameRef& ref : names) {
    switch (kind_of(ref.name)) {
      case NameKind::Gateway:
        atoms.push_back(AddressAtom{AddressAtom::Kind::Gateway, {}, nullptr});
        break;
      case NameKind::Zone: {
        const Zone* zone = policy_.find_zone(ref.name);
        if (!zone->declares_networks && zone->role != ZoneRole::Vpn) {
          atoms.push_back(AddressAtom{AddressAtom::Kind::ZoneRest, {}, zone});
        }
        for (const Cidr& network : zone->networks) {
          // A /0 network is "the rest of the family", not every address.
          atoms.push_back(network.prefix == 0
                              ? AddressAtom{AddressAtom::Kind::ZoneRest, {}, zone}
                              : AddressAtom{AddressAtom::Kind::Network, network, zone});
        }
        break;
      }
      case NameKind::Peer:
        for (const IpAddress& address : policy_.find_peer(ref.name)->addresses) {
          add_address(address);
        }
        break;
      case NameKind::Host:
      case NameKind::Group:
        for (const Host* host : hosts_of(ref.name)) {
          for (const IpAddress& address : host->addresses) {
            add_address(address);
          }
        }
        break;
      case NameKind::None:
        break;
    }
  }
  return atoms;
}

bool Resolver::covered(const AddressAtom& atom, const std::vector<AddressAtom>& atoms) const {
  for (const AddressAtom& other : atoms) {
    switch (atom.kind) {
      case AddressAtom::Kind::Gateway:
      case AddressAtom::Kind::ZoneRest:
        if (other.kind == atom.kind && other.zone == atom.zone) {
          return true;
        }
        break;
      case AddressAtom::Kind::Network:
        if (other.kind == AddressAtom::Kind::Network && other.network.contains(atom.network)) {
          return true;
        }
        // A single address outside every zone network belongs to the zone without networks.
        if (other.kind == AddressAtom::Kind::ZoneRest &&
            atom.network.prefix == atom.network.network.bits() &&
            zone_of(atom.network.network) == other.zone) {
          return true;
        }
        break;
    }
  }
  return false;
}

std::vector<ServiceItem> Resolver::items_of(const std::vector<ServiceUse>& uses) const {
  std::vector<ServiceItem> items;
  for (const ServiceUse& use : uses) {
    if (!use.items.empty()) {
      items.insert(items.end(), use.items.begin(), use.items.end());
    } else if (const Service* service = policy_.find_service(use.name.name)) {
      items.insert(items.end(), service->items.begin(), service->items.end());
    }
  }
  return items;
}

}  // namespace sekisho::policy
