#include "policy/checks.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <date/tz.h>

#include "policy/keys.hpp"
#include "policy/resolve.hpp"

namespace sekisho::policy {

namespace {

std::string line_of(SourcePos pos) {
  return "line " + std::to_string(pos.line);
}

class Checker {
 public:
  Checker(Policy& policy, Diagnostics& diagnostics) : policy_(policy), diagnostics_(diagnostics) {}

  void run() {
    link_vpn_zones();
    link_wan();
    check_wan_schedule();
    check_timezone();
    check_names();
    check_interfaces();
    check_zone_networks();
    check_hosts();
    check_groups();
    Resolver resolver(policy_);
    check_rules(resolver);
    check_vpns(resolver);
    check_cloud(resolver);
    check_remote_maintenance(resolver);
  }

 private:
  // All names a rule may use, for did-you-mean.
  std::vector<std::string_view> endpoint_names() const {
    std::vector<std::string_view> names{kGatewayName};
    for (const Zone& zone : policy_.zones)
      names.push_back(zone.name);
    for (const Host& host : policy_.hosts)
      names.push_back(host.name);
    for (const Group& group : policy_.groups)
      names.push_back(group.name);
    for (const Vpn& vpn : policy_.vpns) {
      for (const VpnPeer& peer : vpn.peers)
        names.push_back(peer.name);
    }
    return names;
  }

  void undefined(const NameRef& ref, std::string_view what,
                 const std::vector<std::string_view>& candidates) {
    std::string suggestion = did_you_mean(ref.name, candidates);
    diagnostics_.error(ref.pos, "undefined",
                       std::string(what) + " '" + ref.name + "' is not defined",
                       suggestion.empty() ? "" : "did you mean '" + suggestion + "'?");
  }

  void link_vpn_zones() {
    std::map<std::string, const Zone*> zone_of_vpn;
    for (Zone& zone : policy_.zones) {
      if (!zone.vpn) {
        continue;
      }
      zone.role = ZoneRole::Vpn;
      const Vpn* vpn = policy_.find_vpn(zone.vpn->name);
      if (!vpn) {
        std::vector<std::string_view> names;
        for (const Vpn& v : policy_.vpns)
          names.push_back(v.name);
        undefined(*zone.vpn, "vpn", names);
        continue;
      }
      auto [it, inserted] = zone_of_vpn.emplace(vpn->name, &zone);
      if (!inserted) {
        diagnostics_.error(
            zone.vpn->pos, "dup-name",
            "vpn '" + vpn->name + "' already belongs to zone '" + it->second->name + "'");
        continue;
      }
      if (!vpn->interface.name.empty()) {
        zone.interfaces.push_back(vpn->interface);
      }
      for (const InterfaceAddress& address : vpn->addresses) {
        Cidr network = address.network();
        if (std::find(zone.networks.begin(), zone.networks.end(), network) == zone.networks.end()) {
          zone.networks.push_back(network);
        }
      }
    }
    for (const Vpn& vpn : policy_.vpns) {
      if (!zone_of_vpn.contains(vpn.name)) {
        diagnostics_.error(vpn.pos, "missing-zone", "vpn '" + vpn.name + "' belongs to no zone",
                           "add a zone with 'vpn: " + vpn.name + "'");
      }
    }
  }

  void link_wan() {
    if (!policy_.wan || policy_.wan->interface.name.empty()) {
      return;
    }
    const NameRef& interface = policy_.wan->interface;
    for (Zone& zone : policy_.zones) {
      bool holds = std::any_of(zone.interfaces.begin(), zone.interfaces.end(),
                               [&](const NameRef& i) { return i.name == interface.name; });
      if (!holds) {
        continue;
      }
      if (zone.role == ZoneRole::Vpn) {
        diagnostics_.error(interface.pos, "bad-interface",
                           "the WAN interface cannot be a VPN interface");
      } else if (zone.role == ZoneRole::Ot || zone.role == ZoneRole::It) {
        diagnostics_.error(interface.pos, "W-2",
                           "wan.interface '" + interface.name + "' belongs to zone '" + zone.name +
                               "', which is an OT or IT zone",
                           "give the WAN its own zone");
      } else {
        zone.role = ZoneRole::Wan;
      }
      return;
    }
    diagnostics_.error(interface.pos, "undefined",
                       "wan.interface '" + interface.name + "' belongs to no zone",
                       "add it to a zone's interfaces, e.g. zones: { wan: { interfaces: [" +
                           interface.name + "] } }");
  }

  void check_wan_schedule() {
    if (policy_.wan && policy_.wan->up && !policy_.find_schedule(policy_.wan->up->name)) {
      std::vector<std::string_view> names;
      for (const Schedule& schedule : policy_.schedules)
        names.push_back(schedule.name);
      undefined(*policy_.wan->up, "schedule", names);
    }
  }

  void check_timezone() {
    try {
      (void)date::locate_zone(policy_.timezone);
    } catch (const std::exception&) {
      diagnostics_.error(policy_.timezone_pos, "bad-timezone",
                         "unknown time zone '" + policy_.timezone + "'",
                         "use a tz database name such as Asia/Tokyo or Europe/Berlin");
    }
    if (policy_.timezone_pos.line == 0 && !policy_.schedules.empty()) {
      diagnostics_.warning({}, "timezone",
                           "schedules are evaluated in UTC: gateway.timezone is not set",
                           "set gateway.timezone, e.g. Asia/Tokyo");
    }
  }

  void check_names() {
    std::map<std::string, std::pair<std::string, SourcePos>> seen;
    auto claim = [&](const std::string& name, SourcePos pos, const std::string& what) {
      if (name == kGatewayName || name == "any") {
        diagnostics_.error(pos, "reserved-name",
                           "'" + name + "' is reserved and cannot name " + what);
        return;
      }
      auto [it, inserted] = seen.emplace(name, std::pair{what, pos});
      if (!inserted) {
        diagnostics_.error(pos, "dup-name",
                           "'" + name + "' already names " + it->second.first + " (" +
                               line_of(it->second.second) + ")",
                           "zones, hosts, groups and VPN peers share one namespace");
      }
    };
    for (const Zone& zone : policy_.zones) {
      claim(zone.name, zone.pos, "a zone");
      // Zone names become nftables chain names ("ot_to_it"): nft identifiers start with a
      // letter, and "_to_" inside a name would make two zone pairs share a chain.
      const char first = zone.name.empty() ? '0' : zone.name.front();
      const bool letter = (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z');
      if (!letter || zone.name.find("_to_") != std::string::npos) {
        diagnostics_.error(
            zone.pos, "bad-name",
            "zone name '" + zone.name + "' must start with a letter and not contain '_to_'",
            "zone names become chain names such as ot_to_it");
      }
    }
    for (const Host& host : policy_.hosts)
      claim(host.name, host.pos, "a host");
    for (const Group& group : policy_.groups)
      claim(group.name, group.pos, "a group");
    for (const Vpn& vpn : policy_.vpns) {
      for (const VpnPeer& peer : vpn.peers)
        claim(peer.name, peer.pos, "a VPN peer");
    }
    std::map<std::string, SourcePos> rules;
    for (const Rule& rule : policy_.rules) {
      if (rule.name.empty()) {
        continue;
      }
      auto [it, inserted] = rules.emplace(rule.name, rule.pos);
      if (!inserted) {
        diagnostics_.error(
            rule.pos, "dup-name",
            "rule name '" + rule.name + "' is used twice (first at " + line_of(it->second) + ")",
            "explain and the audit log name rules: keep names unique");
      }
    }
    if (policy_.find_service("any")) {
      diagnostics_.error(policy_.find_service("any")->pos, "reserved-name",
                         "'any' is reserved and cannot name a service");
    }
  }

  void check_interfaces() {
    std::map<std::string, const Zone*> owner;
    for (const Zone& zone : policy_.zones) {
      for (const NameRef& interface : zone.interfaces) {
        auto [it, inserted] = owner.emplace(interface.name, &zone);
        if (!inserted) {
          diagnostics_.error(interface.pos, "dup-interface",
                             "interface '" + interface.name + "' is in zone '" + it->second->name +
                                 "' and in zone '" + zone.name + "'",
                             "an interface belongs to one zone");
        }
      }
    }
  }

  void check_zone_networks() {
    const Zone* rest = nullptr;
    for (const Zone& zone : policy_.zones) {
      if (zone.role != ZoneRole::Vpn && !zone.declares_networks) {
        if (rest) {
          diagnostics_.error(zone.pos, "zone-overlap",
                             "zones '" + rest->name + "' and '" + zone.name +
                                 "' both have no networks: both would hold every other address",
                             "give one of them 'networks'");
        }
        rest = &zone;
      }
    }
    for (std::size_t i = 0; i < policy_.zones.size(); ++i) {
      const Zone& a = policy_.zones[i];
      for (std::size_t j = i; j < policy_.zones.size(); ++j) {
        const Zone& b = policy_.zones[j];
        for (std::size_t x = 0; x < a.networks.size(); ++x) {
          for (std::size_t y = (i == j ? x + 1 : 0); y < b.networks.size(); ++y) {
            if (a.networks[x].contains(b.networks[y]) || b.networks[y].contains(a.networks[x])) {
              diagnostics_.error(b.pos, "zone-overlap",
                                 "network " + b.networks[y].to_string() + " of zone '" + b.name +
                                     "' overlaps " + a.networks[x].to_string() + " of zone '" +
                                     a.name + "'",
                                 "an address belongs to exactly one zone");
            }
          }
        }
      }
    }
  }

  void check_hosts() {
    std::map<IpAddress, const Host*> owner;
    Resolver resolver(policy_);
    for (const Host& host : policy_.hosts) {
      for (const IpAddress& address : host.addresses) {
        auto [it, inserted] = owner.emplace(address, &host);
        if (!inserted) {
          diagnostics_.error(host.pos, "dup-address",
                             "address " + address.to_string() + " of host '" + host.name +
                                 "' is also host '" + it->second->name + "'");
        }
        if (!resolver.zone_of(address)) {
          diagnostics_.warning(host.pos, "host-outside-zones",
                               "host '" + host.name + "' (" + address.to_string() +
                                   ") is in no zone's networks: no rule can reach it",
                               "add its network to a zone, or give one zone no 'networks'");
        }
      }
    }
  }

  void check_groups() {
    std::vector<std::string_view> names;
    for (const Host& host : policy_.hosts)
      names.push_back(host.name);
    for (const Group& group : policy_.groups)
      names.push_back(group.name);
    for (const Group& group : policy_.groups) {
      if (group.members.empty()) {
        diagnostics_.warning(group.pos, "empty-group", "group '" + group.name + "' is empty");
      }
      for (const NameRef& member : group.members) {
        if (policy_.find_host(member.name) || policy_.find_group(member.name)) {
          continue;
        }
        if (policy_.find_zone(member.name)) {
          diagnostics_.error(member.pos, "bad-member",
                             "zone '" + member.name + "' cannot be a group member",
                             "groups hold hosts and groups; use the zone in the rule itself");
        } else {
          undefined(member, "group member", names);
        }
      }
    }
    // Cycles: depth-first over group -> group edges.
    std::map<std::string_view, int> state;  // 0 new, 1 on the path, 2 done
    std::function<void(const Group&)> visit = [&](const Group& group) {
      state[group.name] = 1;
      for (const NameRef& member : group.members) {
        const Group* inner = policy_.find_group(member.name);
        if (!inner) {
          continue;
        }
        if (state[inner->name] == 1) {
          diagnostics_.error(
              member.pos, "cycle",
              "group '" + group.name + "' contains itself through '" + member.name + "'");
        } else if (state[inner->name] == 0) {
          visit(*inner);
        }
      }
      state[group.name] = 2;
    };
    for (const Group& group : policy_.groups) {
      if (state[group.name] == 0) {
        visit(group);
      }
    }
  }

  void check_service_uses(const std::vector<ServiceUse>& uses) {
    std::vector<std::string_view> names;
    for (const Service& service : policy_.services)
      names.push_back(service.name);
    for (const ServiceUse& use : uses) {
      if (use.items.empty() && !policy_.find_service(use.name.name)) {
        undefined(use.name, "service", names);
      }
    }
  }

  void check_rules(const Resolver& resolver) {
    const auto names = endpoint_names();
    std::vector<std::string_view> schedules;
    for (const Schedule& schedule : policy_.schedules)
      schedules.push_back(schedule.name);
    for (const Rule& rule : policy_.rules) {
      for (const auto* side : {&rule.from, &rule.to}) {
        for (const NameRef& ref : *side) {
          if (resolver.kind_of(ref.name) == NameKind::None) {
            undefined(ref, "endpoint", names);
          }
        }
      }
      check_service_uses(rule.services);
      if (rule.schedule && !policy_.find_schedule(rule.schedule->name)) {
        undefined(*rule.schedule, "schedule", schedules);
      }
      bool from_gateway = std::any_of(rule.from.begin(), rule.from.end(),
                                      [](const NameRef& r) { return r.name == kGatewayName; });
      bool to_gateway = std::any_of(rule.to.begin(), rule.to.end(),
                                    [](const NameRef& r) { return r.name == kGatewayName; });
      if (from_gateway && to_gateway) {
        diagnostics_.error(rule.pos, "bad-rule",
                           "rule '" + rule.name + "' goes from the gateway to itself",
                           "the gateway's own loopback traffic is always allowed");
      }
    }
  }

  void check_vpns(const Resolver& resolver) {
    // Tunnel interfaces are zone interfaces (link_vpn_zones), so check_interfaces already
    // catches a tunnel interface that another zone lists too.
    std::map<std::uint16_t, const Vpn*> ports;
    std::map<std::string, const VpnPeer*> keys;
    for (const Vpn& vpn : policy_.vpns) {
      if (vpn.listen_port != 0) {
        auto [it, inserted] = ports.emplace(vpn.listen_port, &vpn);
        if (!inserted) {
          diagnostics_.error(vpn.pos, "conflict",
                             "vpn '" + vpn.name + "' listens on port " +
                                 std::to_string(vpn.listen_port) + " like vpn '" +
                                 it->second->name + "'");
        }
      }
      for (const VpnPeer& peer : vpn.peers) {
        if (!peer.public_key.empty()) {
          auto [it, inserted] = keys.emplace(peer.public_key, &peer);
          if (!inserted) {
            diagnostics_.error(peer.pos, "conflict",
                               "peer '" + peer.name + "' has the same public key as peer '" +
                                   it->second->name + "'");
          }
        }
        for (const IpAddress& address : peer.addresses) {
          bool inside =
              std::any_of(vpn.addresses.begin(), vpn.addresses.end(),
                          [&](const InterfaceAddress& a) { return a.network().contains(address); });
          if (!inside) {
            diagnostics_.error(peer.pos, "bad-address",
                               "peer '" + peer.name + "' address " + address.to_string() +
                                   " is outside the tunnel networks of vpn '" + vpn.name + "'");
          }
          if (resolver.is_gateway_address(address)) {
            diagnostics_.error(peer.pos, "conflict",
                               "peer '" + peer.name + "' uses the gateway's tunnel address " +
                                   address.to_string());
          }
        }
      }
    }
  }

  void check_cloud(const Resolver& resolver) {
    if (!policy_.cloud) {
      return;
    }
    const CloudMqtt& cloud = *policy_.cloud;
    const NameRef& broker = cloud.broker;
    if (!broker.name.empty() && !policy_.find_host(broker.name)) {
      if (parse_ip(broker.name)) {
        diagnostics_.error(broker.pos, "undefined",
                           "cloud broker " + broker.name + " must be named as a host",
                           "declare a host with 'addresses: [" + broker.name +
                               "]' and name it here: the ledger then records it");
      } else if (broker.name.find('.') != std::string::npos ||
                 resolver.kind_of(broker.name) == NameKind::None) {
        diagnostics_.error(broker.pos, "C-1",
                           "cloud broker '" + broker.name +
                               "' is not a host with literal addresses; a DNS name is refused",
                           "JPCERT/CC C-1: talk to the cloud at fixed IP addresses. Declare "
                           "a host with the broker's addresses and name it here");
      } else {
        diagnostics_.error(
            broker.pos, "C-1",
            "cloud broker '" + broker.name + "' must be a host, not a " + "zone, group or peer");
      }
    }
    if (cloud.local_broker_pos.line > 0) {
      const Zone* zone = resolver.zone_of(cloud.local_broker_address);
      if (!zone || zone->role == ZoneRole::Wan || zone->role == ZoneRole::Vpn ||
          !zone->declares_networks) {
        diagnostics_.error(cloud.local_broker_pos, "bad-address",
                           "local_broker " + cloud.local_broker_address.to_string() +
                               " is not inside a factory-side zone's networks",
                           "use the gateway's own address on the OT side");
      }
    }
    std::set<std::string> uplink;
    for (const NameRef& filter : cloud.uplink) {
      uplink.insert(filter.name);
    }
    for (const auto* list : {&cloud.uplink, &cloud.downlink}) {
      for (const NameRef& filter : *list) {
        std::string error = topic_filter_error(filter.name);
        if (!error.empty()) {
          diagnostics_.error(filter.pos, "bad-topic", "'" + filter.name + "': " + error);
        }
      }
    }
    for (const NameRef& filter : cloud.downlink) {
      if (uplink.contains(filter.name)) {
        diagnostics_.error(filter.pos, "conflict",
                           "topic filter '" + filter.name + "' is both uplink and downlink",
                           "a topic that crosses both ways would loop");
      }
    }
  }

  void check_remote_maintenance(const Resolver& resolver) {
    if (!policy_.remote_maintenance) {
      return;
    }
    const RemoteMaintenance& maintenance = *policy_.remote_maintenance;
    std::vector<std::string_view> hosts;
    for (const Host& host : policy_.hosts)
      hosts.push_back(host.name);
    std::vector<std::string_view> targets;
    for (const MaintenanceTarget& target : maintenance.targets)
      targets.push_back(target.name);
    std::vector<std::string_view> peers;
    for (const Vpn& vpn : policy_.vpns) {
      for (const VpnPeer& peer : vpn.peers)
        peers.push_back(peer.name);
    }
    for (const MaintenanceTarget& target : maintenance.targets) {
      if (!target.host.name.empty() && !policy_.find_host(target.host.name)) {
        undefined(target.host, "host", hosts);
      }
      check_service_uses(target.services);
      for (const ServiceItem& item : resolver.items_of(target.services)) {
        if (item.proto == Proto::Any) {
          diagnostics_.warning(target.pos, "L-1",
                               "target '" + target.name + "' opens every service of its host",
                               "name the services the vendor needs, e.g. vnc or tcp/5007");
        }
      }
    }
    for (const MaintenancePeer& peer : maintenance.peers) {
      if (!policy_.find_peer(peer.peer.name)) {
        undefined(peer.peer, "VPN peer", peers);
      }
      for (const NameRef& target : peer.targets) {
        if (std::find(targets.begin(), targets.end(), target.name) == targets.end()) {
          undefined(target, "maintenance target", targets);
        }
      }
    }
  }

  Policy& policy_;
  Diagnostics& diagnostics_;
};

}  // namespace

std::string topic_filter_error(std::string_view filter) {
  if (filter.empty()) {
    return "a topic filter may not be empty";
  }
  if (filter.size() > 65535) {
    return "a topic filter has at most 65535 bytes";
  }
  if (filter.find('\0') != std::string_view::npos) {
    return "a topic filter may not contain NUL";
  }
  std::size_t start = 0;
  while (true) {
    std::size_t end = filter.find('/', start);
    std::string_view level =
        filter.substr(start, end == std::string_view::npos ? end : end - start);
    if (level.find('#') != std::string_view::npos &&
        (level != "#" || end != std::string_view::npos)) {
      return "'#' must stand alone as the last level";
    }
    if (level.find('+') != std::string_view::npos && level != "+") {
      return "'+' must stand alone in its level";
    }
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  return {};
}

void link_and_check(Policy& policy, Diagnostics& diagnostics) {
  Checker(policy, diagnostics).run();
}

}  // namespace sekisho::policy
