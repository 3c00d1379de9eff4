#include "policy/checks.hpp"

#include <algorithm>
#include <map>

#include <date/tz.h>

#include "policy/keys.hpp"
#include "policy/resolve.hpp"
#include "policy/topic_filter.hpp"

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
    // A suggestion costs a scan of every name: only for diagnostics that will be shown.
    const bool shown = diagnostics_.items().size() < Diagnostics::kMaxReported;
    std::string suggestion = shown ? did_you_mean(ref.name, candidates) : std::string{};
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
          zone.network_pos.push_back(zone.vpn->pos);
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
          diagnostics_.error(
              interface.pos, "dup-interface",
              it->second == &zone
                  ? "interface '" + interface.name + "' is listed twice in zone '" + zone.name + "'"
                  : "interface '" + interface.name + "' is in zone '" + it->second->name +
                        "' and in zone '" + zone.name + "'",
              "an interface belongs to one zone");
        }
      }
    }
  }

  // An address belongs to exactly one zone: declared networks may not overlap, and per
  // address family one zone at most holds "the rest" (no networks, or 0.0.0.0/0 / ::/0).
  void check_zone_networks() {
    const Zone* rest[2] = {nullptr, nullptr};
    auto claim_rest = [&](int family, const Zone& zone, SourcePos pos) {
      if (rest[family] && rest[family] != &zone) {
        diagnostics_.error(pos, "zone-overlap",
                           std::string("zones '") + rest[family]->name + "' and '" + zone.name +
                               "' both hold every other " + (family == 0 ? "IPv4" : "IPv6") +
                               " address",
                           "only one zone may have no networks (or 0.0.0.0/0, ::/0)");
      }
      rest[family] = &zone;
    };
    struct Placed {
      IpAddress first;
      IpAddress last;
      const Zone* zone;
      std::size_t index;
    };
    std::vector<Placed> placed;
    for (const Zone& zone : policy_.zones) {
      if (zone.role == ZoneRole::Vpn) {
        continue;
      }
      if (!zone.declares_networks) {
        claim_rest(0, zone, zone.pos);
        claim_rest(1, zone, zone.pos);
      }
      for (std::size_t i = 0; i < zone.networks.size(); ++i) {
        const Cidr& network = zone.networks[i];
        if (network.prefix == 0) {
          claim_rest(network.network.family == Family::V4 ? 0 : 1, zone, zone.network_pos[i]);
          continue;
        }
        placed.push_back(Placed{network.network, network.last(), &zone, i});
      }
    }
    // Tunnel networks overlap too: a VPN's addresses may not sit in a LAN's networks.
    for (const Zone& zone : policy_.zones) {
      if (zone.role != ZoneRole::Vpn) {
        continue;
      }
      for (std::size_t i = 0; i < zone.networks.size(); ++i) {
        const Cidr& network = zone.networks[i];
        placed.push_back(Placed{network.network, network.last(), &zone, i});
      }
    }
    // Sorted by first address, an overlap is always with the widest earlier range.
    std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
      return a.first != b.first ? a.first < b.first : b.last < a.last;
    });
    const Placed* widest = nullptr;
    for (const Placed& current : placed) {
      if (widest && widest->first.family == current.first.family &&
          !(widest->last < current.first)) {
        const Cidr& mine = current.zone->networks[current.index];
        const Cidr& theirs = widest->zone->networks[widest->index];
        diagnostics_.error(current.zone->network_pos[current.index], "zone-overlap",
                           "network " + mine.to_string() +
                               (current.zone == widest->zone
                                    ? " lies inside " + theirs.to_string() + " of the same zone '"
                                    : " of zone '" + current.zone->name + "' overlaps " +
                                          theirs.to_string() + " of zone '") +
                               widest->zone->name + "'",
                           "an address belongs to exactly one zone");
      }
      if (!widest || widest->first.family != current.first.family || widest->last < current.last) {
        widest = &current;
      }
    }
  }

  void check_hosts() {
    // Every address names one thing: a host, a VPN peer or the gateway itself.
    std::map<IpAddress, std::string> owner;
    for (const Vpn& vpn : policy_.vpns) {
      for (const VpnPeer& peer : vpn.peers) {
        for (std::size_t i = 0; i < peer.addresses.size(); ++i) {
          auto [it, inserted] = owner.emplace(peer.addresses[i], "VPN peer '" + peer.name + "'");
          if (!inserted) {
            diagnostics_.error(peer.address_pos[i], "dup-address",
                               "address " + peer.addresses[i].to_string() + " of VPN peer '" +
                                   peer.name + "' is also " + it->second,
                               "jump sessions are keyed on the peer's address");
          }
        }
      }
    }
    Resolver resolver(policy_);
    std::map<MacAddress, const Host*> macs;
    for (const Host& host : policy_.hosts) {
      const std::string self = "host '" + host.name + "'";
      for (std::size_t i = 0; i < host.addresses.size(); ++i) {
        const IpAddress& address = host.addresses[i];
        const SourcePos pos = host.address_pos[i];
        if (resolver.is_gateway_address(address)) {
          diagnostics_.error(
              pos, "dup-address",
              "address " + address.to_string() + " of " + self + " is the gateway's own address",
              "rules reach the gateway as 'gateway'");
          continue;
        }
        auto [it, inserted] = owner.emplace(address, self);
        if (!inserted) {
          diagnostics_.error(
              pos, "dup-address",
              it->second == self
                  ? "address " + address.to_string() + " is listed twice for " + self
                  : "address " + address.to_string() + " of " + self + " is also " + it->second);
        }
        const Zone* zone = resolver.zone_of(address);
        if (!zone) {
          diagnostics_.warning(pos, "host-outside-zones",
                               self + " (" + address.to_string() +
                                   ") is in no zone's networks: no rule can reach it",
                               "add its network to a zone, or give one zone no 'networks'");
        } else if (!resolver.in_declared_network(address) &&
                   (host.mac || !host.inventory.vendor.empty() || !host.inventory.model.empty())) {
          // A factory device that lands in the catch-all zone is usually a typo.
          diagnostics_.warning(pos, "host-outside-zones",
                               self + " (" + address.to_string() +
                                   ") is in no zone's networks, so it counts as zone '" +
                                   zone->name + "'",
                               "check the address; factory devices belong to a zone with "
                               "networks");
        }
      }
      if (host.mac) {
        auto [it, inserted] = macs.emplace(*host.mac, &host);
        if (!inserted) {
          diagnostics_.warning(
              host.pos, "dup-mac",
              self + " is bound to the MAC address of host '" + it->second->name + "'",
              "one interface, one host: give it all the addresses instead");
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
    check_group_cycles();
  }

  // Depth-first over group -> group edges, with an explicit stack: a hostile file may
  // chain groups deeper than any call stack.
  void check_group_cycles() {
    enum class State { New, OnPath, Done };
    std::map<std::string_view, State> state;
    struct Frame {
      const Group* group;
      std::size_t next_member;
    };
    for (const Group& root : policy_.groups) {
      if (state[root.name] != State::New) {
        continue;
      }
      std::vector<Frame> stack{{&root, 0}};
      state[root.name] = State::OnPath;
      while (!stack.empty()) {
        Frame& frame = stack.back();
        if (frame.next_member == frame.group->members.size()) {
          state[frame.group->name] = State::Done;
          stack.pop_back();
          continue;
        }
        const NameRef& member = frame.group->members[frame.next_member++];
        const Group* inner = policy_.find_group(member.name);
        if (!inner) {
          continue;
        }
        State& inner_state = state[inner->name];
        if (inner_state == State::OnPath) {
          diagnostics_.error(
              member.pos, "cycle",
              "group '" + frame.group->name + "' contains itself through '" + member.name + "'");
        } else if (inner_state == State::New) {
          inner_state = State::OnPath;
          stack.push_back(Frame{inner, 0});
        }
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
      } else if (resolver.kind_of(broker.name) == NameKind::None &&
                 broker.name.find('.') == std::string::npos) {
        std::vector<std::string_view> hosts;
        for (const Host& host : policy_.hosts)
          hosts.push_back(host.name);
        undefined(broker, "cloud broker host", hosts);
      } else if (resolver.kind_of(broker.name) == NameKind::None) {
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
          !resolver.in_declared_network(cloud.local_broker_address)) {
        diagnostics_.error(cloud.local_broker_pos, "bad-address",
                           "local_broker " + cloud.local_broker_address.to_string() +
                               " is not inside a factory-side zone's networks",
                           "use the gateway's own address on the OT side");
      }
    }
    auto valid = [](const NameRef& filter) {
      return topic_filter_error(filter.name).empty() &&
             broker_acl_filter_error(filter.name).empty();
    };
    for (const auto* list : {&cloud.uplink, &cloud.downlink}) {
      for (const NameRef& filter : *list) {
        // First what the broker's ACL file cannot hold: such a filter is not quoted (a
        // line break in it would break the diagnostic's line too).
        if (std::string error = broker_acl_filter_error(filter.name); !error.empty()) {
          diagnostics_.error(filter.pos, "bad-topic", error);
        } else if (error = topic_filter_error(filter.name); !error.empty()) {
          diagnostics_.error(filter.pos, "bad-topic", "'" + filter.name + "': " + error);
        }
      }
    }
    check_publishers(resolver, cloud);
    // Not only the same filter twice: "line1/#" up and "line1/recipes/set" down overlap too.
    for (const NameRef& down : cloud.downlink) {
      if (!valid(down)) {
        continue;
      }
      for (const NameRef& up : cloud.uplink) {
        if (valid(up) && filters_overlap(up.name, down.name)) {
          diagnostics_.error(
              down.pos, "conflict",
              "downlink topic filter '" + down.name + "' overlaps uplink filter '" + up.name + "'",
              "a message on a topic both match would come down from the cloud and go straight "
              "back up: it could loop. Make the two directions' topics disjoint");
        }
      }
    }
  }

  // Each publisher logs in to the local broker under its host's name, so a host must be
  // reachable there: the firewall opens the broker's port to local_broker's zone only.
  void check_publishers(const Resolver& resolver, const CloudMqtt& cloud) {
    if (!cloud.publishers_given) {
      diagnostics_.warning(cloud.pos, "no-publishers",
                           "cloud.mqtt names no publishers: no device can log in to the local "
                           "broker, so nothing reaches the cloud",
                           "list the hosts (or groups) that publish, e.g. publishers: "
                           "[plc-1, plc-2], then give each a password with 'sekishoctl cloud "
                           "password HOST'");
      return;
    }
    const Zone* broker_zone =
        cloud.local_broker_pos.line > 0 ? resolver.zone_of(cloud.local_broker_address) : nullptr;
    for (const NameRef& ref : cloud.publishers) {
      const NameKind kind = resolver.kind_of(ref.name);
      if (kind == NameKind::None) {
        std::vector<std::string_view> names;
        for (const Host& host : policy_.hosts)
          names.push_back(host.name);
        for (const Group& group : policy_.groups)
          names.push_back(group.name);
        undefined(ref, "publisher", names);
        continue;
      }
      if (kind != NameKind::Host && kind != NameKind::Group) {
        diagnostics_.error(ref.pos, "bad-publisher",
                           "publisher '" + ref.name + "' must be a host or a group of hosts",
                           "a publisher logs in to the local broker under its host's name");
        continue;
      }
      for (const Host* host : resolver.hosts_of(ref.name)) {
        if (host->name.starts_with(kBrokerBridgeUserPrefix)) {
          diagnostics_.error(ref.pos, "reserved-name",
                             "publisher host '" + host->name + "': a name starting with '" +
                                 std::string(kBrokerBridgeUserPrefix) +
                                 "' is kept for sekishod's own user at the local broker",
                             "rename the host");
          continue;
        }
        const bool reaches = std::any_of(
            host->addresses.begin(), host->addresses.end(),
            [&](const IpAddress& address) { return resolver.zone_of(address) == broker_zone; });
        if (broker_zone && !reaches) {
          diagnostics_.error(ref.pos, "bad-publisher",
                             "publisher host '" + host->name + "' has no address in zone '" +
                                 broker_zone->name +
                                 "', the only zone that reaches the local broker",
                             "the firewall opens local_broker's port to its own zone only");
        }
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

void link_and_check(Policy& policy, Diagnostics& diagnostics) {
  Checker(policy, diagnostics).run();
}

}  // namespace sekisho::policy
