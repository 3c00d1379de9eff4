// The JPCERT/CC guide's rules over the allowlist (W-1/VPN sources, W-2, L-1) and rule
// hygiene (shadowed and duplicate rules, rules that can never match).

#include <algorithm>
#include <set>

#include "policy/checks.hpp"
#include "policy/resolve.hpp"

namespace sekisho::policy {

namespace {

bool has_role(const std::vector<const Zone*>& zones, ZoneRole role) {
  return std::any_of(zones.begin(), zones.end(), [&](const Zone* z) { return z->role == role; });
}

bool names_gateway(const std::vector<NameRef>& side) {
  return std::any_of(side.begin(), side.end(),
                     [](const NameRef& r) { return r.name == kGatewayName; });
}

std::vector<const Zone*> zones_of_side(const Resolver& resolver, const std::vector<NameRef>& side) {
  std::vector<const Zone*> zones;
  for (const NameRef& ref : side) {
    for (const Zone* zone : resolver.zones_of(ref.name)) {
      if (std::find(zones.begin(), zones.end(), zone) == zones.end()) {
        zones.push_back(zone);
      }
    }
  }
  return zones;
}

// The address families a rule side can hold.
std::set<Family> families_of(const Resolver& resolver, const std::vector<NameRef>& side) {
  std::set<Family> families;
  for (const AddressAtom& atom : resolver.atoms_of(side)) {
    if (atom.kind == AddressAtom::Kind::Network) {
      families.insert(atom.network.network.family);
    } else {
      families.insert(Family::V4);
      families.insert(Family::V6);
    }
  }
  return families;
}

std::string describe(const Rule& rule) {
  return "rule '" + rule.name + "' (line " + std::to_string(rule.pos.line) + ")";
}

// Comparing every pair of rules is quadratic; past this the check would take seconds.
constexpr std::size_t kMaxRulesForShadowCheck = 10000;

class GuideChecker {
 public:
  GuideChecker(const Policy& policy, Diagnostics& diagnostics)
      : policy_(policy), diagnostics_(diagnostics), resolver_(policy) {}

  void run() {
    for (const Rule& rule : policy_.rules) {
      check_vpn_source(rule);
      check_vpn_destination(rule);
      check_wan_inbound(rule);
      check_ot_outbound(rule);
      check_it_ot(rule);
      check_families(rule);
    }
    check_roles();
    check_it_ot_both_ways();
    check_shadowed();
  }

 private:
  // W-1, the other way: the session gate checks every packet that comes in from a VPN
  // interface, replies included, so a connection from the factory into the VPN would be
  // cut. The gateway's own connections are not gated (their replies go to input).
  void check_vpn_destination(const Rule& rule) {
    const bool only_gateway = std::all_of(rule.from.begin(), rule.from.end(),
                                          [](const NameRef& r) { return r.name == kGatewayName; });
    if (only_gateway) {
      return;
    }
    for (const NameRef& ref : rule.to) {
      if (has_role(resolver_.zones_of(ref.name), ZoneRole::Vpn)) {
        diagnostics_.error(
            ref.pos, "vpn-destination",
            "rule '" + rule.name + "' lets the factory connect into the VPN ('" + ref.name + "')",
            "the VPN is reached only through jump sessions; 'from: gateway' "
            "rules may reach it");
      }
    }
  }

  // W-1: a VPN peer reaches machines only through a jump session.
  void check_vpn_source(const Rule& rule) {
    bool only_gateway = std::all_of(rule.to.begin(), rule.to.end(),
                                    [](const NameRef& r) { return r.name == kGatewayName; });
    if (only_gateway) {
      return;
    }
    for (const NameRef& ref : rule.from) {
      if (has_role(resolver_.zones_of(ref.name), ZoneRole::Vpn)) {
        diagnostics_.error(
            ref.pos, "vpn-source",
            "rule '" + rule.name + "' allows traffic from the VPN ('" + ref.name + "')",
            "VPN access exists only through jump sessions "
            "(remote_maintenance); only 'to: gateway' rules may start there");
      }
    }
  }

  // W-2: from outside, only the VPN and jump sessions come in.
  void check_wan_inbound(const Rule& rule) {
    auto from = zones_of_side(resolver_, rule.from);
    if (!has_role(from, ZoneRole::Wan)) {
      return;
    }
    auto to = zones_of_side(resolver_, rule.to);
    auto inside = std::find_if(to.begin(), to.end(),
                               [](const Zone* zone) { return zone->role != ZoneRole::Wan; });
    if (inside != to.end()) {
      diagnostics_.error(
          rule.pos, "W-2",
          "rule '" + rule.name + "' lets the WAN reach zone '" + (*inside)->name + "'",
          "JPCERT/CC W-2: inbound access from outside exists only through the "
          "VPN and remote-maintenance sessions");
    } else if (names_gateway(rule.to)) {
      diagnostics_.warning(rule.pos, "W-2",
                           "rule '" + rule.name + "' opens the gateway itself to the WAN",
                           "remote administration belongs on the VPN");
    }
  }

  // W-2 / C-1: the factory LAN does not talk to the outside itself; its telemetry leaves
  // through the gateway's broker, to fixed addresses.
  void check_ot_outbound(const Rule& rule) {
    if (has_role(zones_of_side(resolver_, rule.from), ZoneRole::Ot) &&
        has_role(zones_of_side(resolver_, rule.to), ZoneRole::Wan)) {
      diagnostics_.warning(rule.pos, "W-2",
                           "rule '" + rule.name + "' lets the OT zone reach the WAN directly",
                           "JPCERT/CC W-2/C-1: factory data leaves through the gateway's cloud "
                           "broker (cloud.mqtt), to fixed addresses");
    }
  }

  // The guide's checks need to know which zone is the factory LAN.
  void check_roles() {
    bool ot = false;
    bool inner = false;
    for (const Zone& zone : policy_.zones) {
      ot = ot || zone.role == ZoneRole::Ot;
      inner = inner || zone.role == ZoneRole::Other || zone.role == ZoneRole::It;
    }
    if (inner && !ot) {
      diagnostics_.warning(policy_.zones.front().pos, "roles",
                           "no zone has role 'ot': the L-1 and W-2 checks cannot tell which "
                           "zone is the factory LAN",
                           "name the factory zone 'ot' or give it 'role: ot'");
    }
  }

  // L-1: only the necessary traffic between IT and OT.
  void check_it_ot(const Rule& rule) {
    auto from = zones_of_side(resolver_, rule.from);
    auto to = zones_of_side(resolver_, rule.to);
    bool crosses = (has_role(from, ZoneRole::It) && has_role(to, ZoneRole::Ot)) ||
                   (has_role(from, ZoneRole::Ot) && has_role(to, ZoneRole::It));
    if (!crosses) {
      return;
    }
    for (const ServiceItem& item : resolver_.items_of(rule.services)) {
      if (item.proto == Proto::Any) {
        diagnostics_.warning(rule.pos, "L-1",
                             "rule '" + rule.name + "' allows every service between IT and OT",
                             "JPCERT/CC L-1: allow only the services that are needed");
        return;
      }
    }
  }

  void check_it_ot_both_ways() {
    const Rule* it_to_ot = nullptr;
    const Rule* ot_to_it = nullptr;
    for (const Rule& rule : policy_.rules) {
      auto zone_role = [&](const std::vector<NameRef>& side, ZoneRole role) {
        return !side.empty() && std::all_of(side.begin(), side.end(), [&](const NameRef& r) {
          const Zone* zone = policy_.find_zone(r.name);
          return zone && zone->role == role;
        });
      };
      if (zone_role(rule.from, ZoneRole::It) && zone_role(rule.to, ZoneRole::Ot)) {
        it_to_ot = it_to_ot ? it_to_ot : &rule;
        if (ot_to_it) {
          warn_both_ways(rule, *ot_to_it);
        }
      }
      if (zone_role(rule.from, ZoneRole::Ot) && zone_role(rule.to, ZoneRole::It)) {
        ot_to_it = ot_to_it ? ot_to_it : &rule;
        if (it_to_ot) {
          warn_both_ways(rule, *it_to_ot);
        }
      }
    }
  }

  void warn_both_ways(const Rule& rule, const Rule& other) {
    diagnostics_.warning(rule.pos, "L-1",
                         "zone-to-zone rules between IT and OT in both directions: " +
                             describe(rule) + " and " + describe(other),
                         "JPCERT/CC L-1: name the hosts that need to talk instead of whole "
                         "zones in at least one direction");
  }

  void check_families(const Rule& rule) {
    auto from = families_of(resolver_, rule.from);
    auto to = families_of(resolver_, rule.to);
    if (from.empty() || to.empty()) {
      return;
    }
    std::set<Family> common;
    for (Family family : from) {
      if (to.contains(family)) {
        common.insert(family);
      }
    }
    if (common.empty()) {
      diagnostics_.warning(rule.pos, "never-matches",
                           "rule '" + rule.name +
                               "' can never match: its sides share no "
                               "address family (IPv4/IPv6)");
      return;
    }
    // icmp is IPv4 only, icmpv6 IPv6 only.
    auto usable = [&](const ServiceItem& item) {
      return (item.proto != Proto::Icmp || common.contains(Family::V4)) &&
             (item.proto != Proto::Icmpv6 || common.contains(Family::V6));
    };
    auto items = resolver_.items_of(rule.services);
    if (!items.empty() && std::none_of(items.begin(), items.end(), usable)) {
      diagnostics_.warning(rule.pos, "never-matches",
                           "rule '" + rule.name + "' can never match: its services are " +
                               (common.contains(Family::V4) ? "ICMPv6" : "ICMP (IPv4)") +
                               " but its sides are " +
                               (common.contains(Family::V4) ? "IPv4" : "IPv6") + " only");
    }
  }

  struct RuleShape {
    std::vector<AddressAtom> from;
    std::vector<AddressAtom> to;
    std::vector<ServiceItem> services;
  };

  bool covers(const RuleShape& wide, const Rule& wide_rule, const RuleShape& narrow,
              const Rule& narrow_rule) const {
    if (wide_rule.schedule &&
        (!narrow_rule.schedule || narrow_rule.schedule->name != wide_rule.schedule->name)) {
      return false;
    }
    for (const ServiceItem& item : narrow.services) {
      bool inside = std::any_of(wide.services.begin(), wide.services.end(),
                                [&](const ServiceItem& w) { return item.within(w); });
      if (!inside) {
        return false;
      }
    }
    auto side = [&](const std::vector<AddressAtom>& n, const std::vector<AddressAtom>& w) {
      return std::all_of(n.begin(), n.end(),
                         [&](const AddressAtom& atom) { return resolver_.covered(atom, w); });
    };
    return side(narrow.from, wide.from) && side(narrow.to, wide.to);
  }

  // A rule is redundant when another one, before or after it (order does not matter in an
  // allowlist), already allows all of it with no narrower schedule, and it adds no
  // logging. Pairwise only: a rule covered by the union of two others is not found.
  void check_shadowed() {
    if (policy_.rules.size() > kMaxRulesForShadowCheck) {
      diagnostics_.warning(policy_.rules.front().pos, "check-skipped",
                           "more than " + std::to_string(kMaxRulesForShadowCheck) +
                               " rules: the check for shadowed rules is skipped");
      return;
    }
    std::vector<RuleShape> shapes;
    shapes.reserve(policy_.rules.size());
    for (const Rule& rule : policy_.rules) {
      shapes.push_back(RuleShape{resolver_.atoms_of(rule.from), resolver_.atoms_of(rule.to),
                                 resolver_.items_of(rule.services)});
    }
    for (std::size_t j = 0; j < policy_.rules.size(); ++j) {
      const Rule& rule = policy_.rules[j];
      if (shapes[j].from.empty() || shapes[j].to.empty() || shapes[j].services.empty()) {
        continue;
      }
      for (std::size_t i = 0; i < policy_.rules.size(); ++i) {
        const Rule& other = policy_.rules[i];
        if (i == j || (rule.log && !other.log) || !covers(shapes[i], other, shapes[j], rule)) {
          continue;
        }
        if (covers(shapes[j], rule, shapes[i], other)) {
          if (i < j) {  // report a pair of equal rules once, at the later one
            diagnostics_.warning(
                rule.pos, "duplicate",
                "rule '" + rule.name + "' allows exactly what " + describe(other) + " allows",
                "remove one of them");
            break;
          }
          continue;
        }
        diagnostics_.warning(rule.pos, "shadowed",
                             "rule '" + rule.name + "' adds nothing: " + describe(other) +
                                 " already allows all of it",
                             "remove it, or narrow the other rule");
        break;
      }
    }
  }

  const Policy& policy_;
  Diagnostics& diagnostics_;
  Resolver resolver_;
};

}  // namespace

void check_guide_rules(const Policy& policy, Diagnostics& diagnostics) {
  GuideChecker(policy, diagnostics).run();
}

}  // namespace sekisho::policy
