#include "policy/compile.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "policy/compile_flows.hpp"
#include "policy/compile_plugins.hpp"
#include "policy/element_set.hpp"
#include "policy/resolve.hpp"

namespace sekisho::policy {

namespace {

using ir::FieldType;
using ir::Match;
using ir::Selector;
using ir::Statement;

// Which allow set of a zone-pair chain a flow belongs to.
enum class SetKind { Ports, Icmp, Any };

struct SetKey {
  std::pair<std::size_t, std::size_t> pair;  // zone indices; the gateway is zones.size()
  Family family;
  SetKind kind;
  std::string schedule;
  bool log;

  auto operator<=>(const SetKey&) const = default;
};

ir::Value address_value(const IpAddress& address) {
  return ir::value_of_bytes(address.bytes.data(), address.family == Family::V4 ? 4 : 16);
}

// The first and last address of a prefix.
ir::Range address_range(const Cidr& cidr) {
  return ir::Range{address_value(cidr.network), address_value(cidr.last())};
}

SetKind kind_of(const ServiceItem& item) {
  switch (item.proto) {
    case Proto::Tcp:
    case Proto::Udp:
      return SetKind::Ports;
    case Proto::Icmp:
    case Proto::Icmpv6:
      return SetKind::Icmp;
    case Proto::Any:
      return SetKind::Any;
  }
  return SetKind::Any;
}

std::uint8_t ip_protocol(Proto proto) {
  switch (proto) {
    case Proto::Tcp:
      return 6;
    case Proto::Udp:
      return 17;
    case Proto::Icmp:
      return 1;
    case Proto::Icmpv6:
      return 58;
    case Proto::Any:
      return 0;
  }
  return 0;
}

ir::Element element_of(const Flow& flow) {
  ir::Element element;
  element.origin = flow.origin;
  element.key.push_back(address_range(flow.source));
  element.key.push_back(address_range(flow.destination));
  switch (kind_of(flow.service)) {
    case SetKind::Ports:
      element.key.push_back(ir::single(ir::value_of_number(ip_protocol(flow.service.proto), 1)));
      element.key.push_back(ir::Range{ir::value_of_number(flow.service.port_lo, 2),
                                      ir::value_of_number(flow.service.port_hi, 2)});
      break;
    case SetKind::Icmp:
      element.key.push_back(
          ir::single(ir::value_of_number(static_cast<std::uint64_t>(flow.service.icmp_type), 1)));
      break;
    case SetKind::Any:
      break;
  }
  return element;
}

std::string set_name(const std::string& chain, const SetKey& key) {
  std::string name = chain + (key.family == Family::V4 ? "_v4" : "_v6");
  if (key.kind == SetKind::Icmp)
    name += "_icmp";
  if (key.kind == SetKind::Any)
    name += "_any";
  if (!key.schedule.empty())
    name += "_s_" + key.schedule;
  if (key.log)
    name += "_log";
  return name;
}

std::vector<FieldType> set_key_types(Family family, SetKind kind) {
  FieldType address = family == Family::V4 ? FieldType::Ipv4Addr : FieldType::Ipv6Addr;
  switch (kind) {
    case SetKind::Ports:
      return {address, address, FieldType::InetProto, FieldType::InetService};
    case SetKind::Icmp:
      return {address, address, family == Family::V4 ? FieldType::IcmpType : FieldType::Icmpv6Type};
    case SetKind::Any:
      return {address, address};
  }
  return {};
}

std::vector<Selector> set_selectors(Family family, SetKind kind) {
  std::vector<Selector> selectors = family == Family::V4
                                        ? std::vector{Selector::IpSaddr, Selector::IpDaddr}
                                        : std::vector{Selector::Ip6Saddr, Selector::Ip6Daddr};
  if (kind == SetKind::Ports) {
    selectors.push_back(Selector::L4Proto);
    selectors.push_back(Selector::ThDport);
  } else if (kind == SetKind::Icmp) {
    selectors.push_back(family == Family::V4 ? Selector::IcmpType : Selector::Icmpv6Type);
  }
  return selectors;
}

Statement verdict(ir::VerdictKind kind, std::string chain = {}) {
  Statement statement;
  statement.kind = Statement::Kind::Verdict;
  statement.verdict = ir::Verdict{kind, std::move(chain)};
  return statement;
}

Statement simple(Statement::Kind kind) {
  Statement statement;
  statement.kind = kind;
  return statement;
}

// counter, then a rate-limited NFLOG message: every packet is counted, a few are logged.
std::vector<Statement> count_and_log(std::string prefix, std::uint16_t group, std::uint32_t rate,
                                     std::uint32_t burst) {
  Statement limit = simple(Statement::Kind::Limit);
  limit.limit_rate = rate;
  limit.limit_burst = burst;
  Statement log = simple(Statement::Kind::Log);
  log.log_group = group;
  // The kernel keeps at most 127 bytes of a log prefix (NF_LOG_PREFIXLEN).
  if (prefix.size() > 127) {
    prefix.resize(125);
    prefix += ": ";
  }
  log.log_prefix = std::move(prefix);
  return {simple(Statement::Kind::Counter), limit, log};
}

Match equal(Selector selector, ir::Value value) {
  return Match{{selector}, Match::Op::Equal, {}, {ir::single(value)}};
}

Match lookup(std::vector<Selector> selectors, Match::Op op, std::string set) {
  return Match{std::move(selectors), op, std::move(set), {}};
}

// `meta nfproto ipv4|ipv6`, first in every rule that reads an address or an ICMP type: in
// the inet table a header field alone says nothing of the family (an IPv4 packet of
// protocol 58 has an "ICMPv6 type" too), so the rule states it rather than leaving it to
// whichever dependency the backend or nft adds.
Match family_match(Family family) {
  return equal(Selector::NfProto, ir::value_of_number(family == Family::V4 ? 2 : 10, 1));
}

ir::Value ct_state(std::uint32_t bits) {
  return ir::value_of_number(bits, 4);
}

class Compiler {
 public:
  explicit Compiler(const Policy& policy) : policy_(policy), resolver_(policy) {}

  ir::Ruleset run() {
    build_allow_sets();
    build_mac_guard();
    build_session_gate();
    build_wan_gate();
    build_base_chains();
    build_nat();
    size_static_hash_sets();
    record_scheduled_sets();
    compile_plugins(policy_, ruleset_, hook_at_, taken_names_);
    return std::move(ruleset_);
  }

 private:
  // Generated names (zone and schedule names joined with "_to_", "_s_"...) could meet; a
  // clash gets a number so that two objects never merge into one.
  std::string unique_name(std::string name) {
    std::string candidate = name;
    for (int n = 2; !taken_names_.insert(candidate).second; ++n) {
      candidate = name + "_" + std::to_string(n);
    }
    return candidate;
  }

  std::size_t zone_index(const Zone* zone) const {
    return zone ? static_cast<std::size_t>(zone - policy_.zones.data()) : policy_.zones.size();
  }

  void build_allow_sets() {
    std::map<SetKey, std::vector<ir::Element>> grouped;
    // Chains in zone order (the gateway last), so the output does not depend on rule order.
    std::map<std::pair<std::size_t, std::size_t>, std::pair<const Zone*, const Zone*>> pairs;
    for (const Flow& flow : expand_flows(resolver_)) {
      const std::pair pair{zone_index(flow.from), zone_index(flow.to)};
      pairs.emplace(pair, std::pair{flow.from, flow.to});
      const Family family = flow.source.network.family;
      const SetKind kind = kind_of(flow.service);
      grouped[SetKey{pair, family, kind, flow.schedule, false}].push_back(element_of(flow));
      if (flow.log) {
        grouped[SetKey{pair, family, kind, flow.schedule, true}].push_back(element_of(flow));
      }
    }
    for (const auto& [order, zones] : pairs) {
      const auto& [from, to] = zones;
      ir::Chain chain;
      chain.name = unique_name(pair_chain_name(from, to));
      chain.origin =
          ir::Origin{from ? from->pos : to->pos, "zone pair " + (from ? from->name : "gateway") +
                                                     " -> " + (to ? to->name : "gateway")};
      // Log rules first (they fall through), then the accepting lookups; permanent sets
      // before scheduled ones (kScheduleMarkBit).
      for (bool log : {true, false}) {
        for (bool scheduled : {false, true}) {
          for (auto& [key, elements] : grouped) {
            if (key.pair != order || key.log != log || key.schedule.empty() == scheduled) {
              continue;
            }
            add_allow_set(chain, key, std::move(elements));
          }
        }
      }
      dispatch(from, to, chain.name);
      ruleset_.chains.push_back(std::move(chain));
    }
  }

  // A zone pair's allowlist of one family and kind. Exact flows (one address, one
  // address, one port) go into a hash set, the rest into an interval set: both are one
  // lookup per packet whatever their size, but the kernel inserts into a hash set in
  // constant time and into the interval backend (pipapo) in time that grows with the set,
  // so a plant-sized policy loads several times faster. The builder keeps the elements
  // disjoint, so a packet matches at most one of the two. A scheduled set stays one
  // interval set: the daemon swaps its elements at the schedule's transitions.
  void add_allow_set(ir::Chain& chain, const SetKey& key, std::vector<ir::Element> elements) {
    ir::ElementSetBuilder builder;
    builder.add_all(std::move(elements));
    std::vector<ir::Element> disjoint = builder.take();
    if (!key.schedule.empty()) {
      add_allow_lookup(chain, key, set_name(chain.name, key), true, std::move(disjoint));
      return;
    }
    std::vector<ir::Element> exact;
    std::vector<ir::Element> ranges;
    for (ir::Element& element : disjoint) {
      const bool single = std::all_of(element.key.begin(), element.key.end(),
                                      [](const ir::Range& range) { return range.single(); });
      (single ? exact : ranges).push_back(std::move(element));
    }
    if (!exact.empty()) {
      add_allow_lookup(chain, key, set_name(chain.name, key), false, std::move(exact));
    }
    if (!ranges.empty()) {
      add_allow_lookup(chain, key, set_name(chain.name, key) + "_ranges", true, std::move(ranges));
    }
  }

  void add_allow_lookup(ir::Chain& chain, const SetKey& key, const std::string& name, bool interval,
                        std::vector<ir::Element> elements) {
    ir::Set set;
    set.name = unique_name(name);
    set.key = set_key_types(key.family, key.kind);
    set.interval = interval;
    set.schedule = key.schedule;
    set.fill = key.schedule.empty() ? ir::SetFill::Static : ir::SetFill::Scheduled;
    set.origin = chain.origin;
    (key.schedule.empty() ? set.elements : set.scheduled_elements) = std::move(elements);

    ir::Rule rule;
    rule.origin = ir::Origin{chain.origin.pos, key.log ? "log accepted connections" : "allow"};
    rule.matches = {family_match(key.family),
                    lookup(set_selectors(key.family, key.kind), Match::Op::InSet, set.name)};
    if (key.log) {
      rule.statements =
          count_and_log("sekisho accept " + chain.name + ": ", kAcceptLogGroup, 50, 100);
    } else {
      rule.statements = {simple(Statement::Kind::Counter), verdict(ir::VerdictKind::Accept)};
      if (!key.schedule.empty()) {
        Statement mark = simple(Statement::Kind::CtMarkSet);
        mark.mark = schedule_mark(policy_, key.schedule);
        rule.statements.insert(rule.statements.begin(), mark);
      }
    }
    chain.rules.push_back(std::move(rule));
    const ir::SetId id = ruleset_.add_set(std::move(set));
    if (!key.schedule.empty()) {
      scheduled_sets_[key.schedule].push_back(id);
    }
  }

  // The scheduled sets by schedule, in the policy's order of the schedules.
  void record_scheduled_sets() {
    for (const Schedule& schedule : policy_.schedules) {
      auto found = scheduled_sets_.find(schedule.name);
      if (found == scheduled_sets_.end()) {
        continue;
      }
      std::vector<ir::SetId> sets = std::move(found->second);
      std::sort(sets.begin(), sets.end());
      ruleset_.runtime.scheduled.push_back(
          {schedule.name, schedule_mark(policy_, schedule.name), std::move(sets)});
    }
  }

  // A hash set that only ever changes as a whole (no timeouts, no schedule) is sized: the
  // kernel then uses its fixed-size hash, which loads faster than the resizable one (the
  // apply benchmark's kernel time drops by about a third). A full set refuses additions;
  // only a whole replace (reload, drift restore) changes these sets.
  void size_static_hash_sets() {
    for (ir::Set& set : ruleset_.sets) {
      if (!set.interval && !set.timeout && !set.anonymous && set.fill == ir::SetFill::Static &&
          !set.elements.empty()) {
        set.size = static_cast<std::uint32_t>(set.elements.size());
      }
    }
  }

  // Adds the interface pairs of a zone pair to the dispatch maps.
  void dispatch(const Zone* from, const Zone* to, const std::string& chain) {
    ir::Verdict jump{ir::VerdictKind::Jump, chain};
    ir::Origin origin{from ? from->pos : to->pos, "dispatch to " + chain};
    if (from && to) {
      for (const NameRef& in : from->interfaces) {
        for (const NameRef& out : to->interfaces) {
          forward_dispatch_.push_back(ir::Element{
              {ir::single(ir::value_of_ifname(in.name)), ir::single(ir::value_of_ifname(out.name))},
              jump,
              origin,
              {},
              0});
        }
      }
    } else if (from) {
      for (const NameRef& in : from->interfaces) {
        input_dispatch_.push_back(
            ir::Element{{ir::single(ir::value_of_ifname(in.name))}, jump, origin, {}, 0});
      }
    } else {
      for (const NameRef& out : to->interfaces) {
        output_dispatch_.push_back(
            ir::Element{{ir::single(ir::value_of_ifname(out.name))}, jump, origin, {}, 0});
      }
    }
  }

  void add_map(std::string name, std::vector<FieldType> key, std::vector<ir::Element> elements,
               std::string what) {
    ir::Set map;
    map.name = std::move(name);
    map.key = std::move(key);
    map.verdict_map = true;
    map.elements = std::move(elements);
    std::sort(map.elements.begin(), map.elements.end(),
              [](const ir::Element& a, const ir::Element& b) { return a.key < b.key; });
    map.origin = ir::Origin{{}, std::move(what)};
    ruleset_.sets.push_back(std::move(map));
  }

  // L-3: a host bound to a MAC address sends with that MAC or not at all: its address from
  // another MAC, or over a link that has no MAC addresses, is dropped.
  void build_mac_guard() {
    std::vector<ir::Element> bound[2];
    std::vector<ir::Element> bindings[2];
    for (const Host& host : policy_.hosts) {
      if (!host.mac) {
        continue;
      }
      ir::Origin origin{host.pos, "MAC binding of host " + host.name};
      for (const IpAddress& address : host.addresses) {
        int family = address.family == Family::V4 ? 0 : 1;
        bound[family].push_back(
            ir::Element{{ir::single(address_value(address))}, {}, origin, {}, 0});
        bindings[family].push_back(
            ir::Element{{ir::single(address_value(address)),
                         ir::single(ir::value_of_bytes(host.mac->bytes.data(), 6))},
                        {},
                        origin,
                        {},
                        0});
      }
    }
    if (bound[0].empty() && bound[1].empty()) {
      return;
    }
    ir::Chain chain;
    chain.name = "mac_guard";
    chain.hook = ir::Hook::Prerouting;
    chain.priority = -150;
    chain.origin = ir::Origin{{}, "MAC bindings (L-3)"};
    for (int family = 0; family < 2; ++family) {
      if (bound[family].empty()) {
        continue;
      }
      const bool v4 = family == 0;
      const std::string suffix = v4 ? "_v4" : "_v6";
      const FieldType address = v4 ? FieldType::Ipv4Addr : FieldType::Ipv6Addr;
      const Selector saddr = v4 ? Selector::IpSaddr : Selector::Ip6Saddr;
      ir::Set hosts;
      hosts.name = "mac_bound" + suffix;
      hosts.key = {address};
      hosts.elements = std::move(bound[family]);
      hosts.origin = chain.origin;
      ir::Set pairs;
      pairs.name = "mac_bindings" + suffix;
      pairs.key = {address, FieldType::EtherAddr};
      pairs.elements = std::move(bindings[family]);
      pairs.origin = chain.origin;
      for (ir::Set* set : {&hosts, &pairs}) {
        std::sort(set->elements.begin(), set->elements.end(),
                  [](const ir::Element& a, const ir::Element& b) { return a.key < b.key; });
      }
      const Match family_only = family_match(v4 ? Family::V4 : Family::V6);
      // The bound pair first, then every other packet from a bound address. A link without
      // an Ethernet header (tun, WireGuard, PPP) has no source MAC: `ether saddr` matches
      // nothing there, so a "MAC is not the bound one" rule would let such a packet pass;
      // "not the bound pair" drops it on every link type. (The accept ends this chain
      // only; the filter chains still judge the packet.)
      chain.rules.push_back(ir::Rule{
          {family_only, lookup({saddr, Selector::EtherSaddr}, Match::Op::InSet, pairs.name)},
          {verdict(ir::VerdictKind::Accept)},
          chain.origin});
      const std::vector<Match> other = {family_only, lookup({saddr}, Match::Op::InSet, hosts.name)};
      // Logging and dropping are two rules: a rate limit that stops a rule must not stop
      // the drop.
      chain.rules.push_back(ir::Rule{
          other,
          count_and_log("sekisho mac-mismatch: ", kDropLogGroup, kDropLogRate, kDropLogBurst),
          chain.origin});
      chain.rules.push_back(ir::Rule{other, {verdict(ir::VerdictKind::Drop)}, chain.origin});
      ruleset_.sets.push_back(std::move(hosts));
      ruleset_.sets.push_back(std::move(pairs));
    }
    ruleset_.chains.push_back(std::move(chain));
  }

  // W-1: a packet from a VPN interface passes only if an open jump session names it, every
  // packet, not only new connections. The sessions issue fills the sets at run time.
  void build_session_gate() {
    for (const Zone& zone : policy_.zones) {
      if (zone.role == ZoneRole::Vpn) {
        for (const NameRef& interface : zone.interfaces) {
          vpn_interfaces_.push_back(ir::Element{
              {ir::single(ir::value_of_ifname(interface.name))}, {}, {zone.pos, ""}, {}, 0});
        }
      }
    }
    if (vpn_interfaces_.empty()) {
      return;
    }
    ir::Chain gate;
    gate.name = "session_gate";
    gate.origin = ir::Origin{{}, "jump sessions (W-1)"};
    // Each element (peer . target . protocol . port, with the session's remaining time as
    // its timeout) maps to the session's number, which the connection then carries as its
    // ct mark: sekishod finds a session's connections by it to account for and end them.
    for (Family family : {Family::V4, Family::V6}) {
      ir::Set sessions;
      sessions.name = family == Family::V4 ? "sessions_v4" : "sessions_v6";
      sessions.key = set_key_types(family, SetKind::Ports);
      sessions.data = FieldType::Mark;
      sessions.interval = true;
      sessions.timeout = true;
      sessions.fill = ir::SetFill::SessionMap;
      sessions.origin = gate.origin;
      Statement mark = simple(Statement::Kind::CtMarkFromMap);
      mark.map_key = set_selectors(family, SetKind::Ports);
      mark.map = sessions.name;
      gate.rules.push_back(
          ir::Rule{{family_match(family)},
                   {mark, simple(Statement::Kind::Counter), verdict(ir::VerdictKind::Accept)},
                   gate.origin});
      ruleset_.runtime.session_maps[family == Family::V4 ? 0 : 1] =
          ruleset_.add_set(std::move(sessions));
    }
    gate.rules.push_back(
        ir::Rule{{},
                 count_and_log("sekisho drop vpn: ", kDropLogGroup, kDropLogRate, kDropLogBurst),
                 gate.origin});
    // A vendor's tools notice the end of a session at once, instead of retransmitting.
    gate.rules.push_back(ir::Rule{{equal(Selector::L4Proto, ir::value_of_number(6, 1))},
                                  {simple(Statement::Kind::RejectTcpReset)},
                                  gate.origin});
    gate.rules.push_back(ir::Rule{{}, {verdict(ir::VerdictKind::Drop)}, gate.origin});
    ruleset_.chains.push_back(std::move(gate));
  }

  // W-2: see kWanClosedSet. A chain of its own, so that the drop is logged once per packet
  // whichever base chain sent it there.
  void build_wan_gate() {
    if (!policy_.wan) {
      return;
    }
    ir::Set closed;
    closed.name = std::string(kWanClosedSet);
    closed.key = {FieldType::IfName};
    closed.fill = ir::SetFill::WanGate;
    closed.origin = ir::Origin{policy_.wan->pos, "wan: the link is down outside wan.up"};
    ir::Chain chain;
    chain.name = "wan_down";
    chain.origin = closed.origin;
    chain.rules.push_back(ir::Rule{
        {},
        count_and_log("sekisho drop wan down: ", kDropLogGroup, kDropLogRate, kDropLogBurst),
        chain.origin});
    chain.rules.push_back(ir::Rule{{}, {verdict(ir::VerdictKind::Drop)}, chain.origin});
    ruleset_.runtime.wan_gate = ruleset_.add_set(std::move(closed));
    ruleset_.chains.push_back(std::move(chain));
  }

  // The WAN gate's lookups, first in a base chain (after loopback).
  void add_wan_gate(ir::Chain& chain, std::initializer_list<Selector> selectors) {
    if (!ruleset_.runtime.wan_gate) {
      return;
    }
    for (Selector selector : selectors) {
      chain.rules.push_back(
          ir::Rule{{lookup({selector}, Match::Op::InSet, std::string(kWanClosedSet))},
                   {verdict(ir::VerdictKind::Goto, "wan_down")},
                   {policy_.wan->pos, "the WAN gate"}});
    }
  }

  ir::Rule established_first() {
    ir::Set states;
    states.name = "__ct_state_" + std::to_string(anonymous_++);
    states.anonymous = true;
    states.verdict_map = true;
    states.key = {FieldType::CtState};
    // nf_conntrack_common.h: invalid 1, established 2, related 4.
    states.elements = {
        ir::Element{{ir::single(ct_state(0x1))}, ir::Verdict{ir::VerdictKind::Drop, {}}, {}, {}, 0},
        ir::Element{
            {ir::single(ct_state(0x2))}, ir::Verdict{ir::VerdictKind::Accept, {}}, {}, {}, 0},
        ir::Element{
            {ir::single(ct_state(0x4))}, ir::Verdict{ir::VerdictKind::Accept, {}}, {}, {}, 0},
    };
    std::string name = states.name;
    ruleset_.sets.push_back(std::move(states));
    return ir::Rule{{lookup({Selector::CtState}, Match::Op::VerdictMap, name)}, {}, {}};
  }

  // IPv6 does not work without neighbour discovery, which conntrack does not track.
  ir::Rule neighbour_discovery() {
    ir::Set types;
    types.name = "__nd_types_" + std::to_string(anonymous_++);
    types.anonymous = true;
    types.key = {FieldType::Icmpv6Type};
    for (int type : {133, 134, 135, 136}) {
      types.elements.push_back(ir::Element{
          {ir::single(ir::value_of_number(static_cast<std::uint64_t>(type), 1))}, {}, {}, {}, 0});
    }
    std::string name = types.name;
    ruleset_.sets.push_back(std::move(types));
    return ir::Rule{
        {family_match(Family::V6), lookup({Selector::Icmpv6Type}, Match::Op::InSet, name)},
        {verdict(ir::VerdictKind::Accept)},
        {{}, "IPv6 neighbour discovery"}};
  }

  ir::Chain base_chain(std::string name, ir::Hook hook, Selector loopback) {
    ir::Chain chain;
    chain.name = std::move(name);
    chain.hook = hook;
    chain.policy_drop = true;
    chain.origin = ir::Origin{{}, "default drop"};
    if (hook != ir::Hook::Forward) {
      chain.rules.push_back(ir::Rule{{equal(loopback, ir::value_of_ifname("lo"))},
                                     {verdict(ir::VerdictKind::Accept)},
                                     {{}, "loopback"}});
    }
    return chain;
  }

  void finish_base_chain(ir::Chain& chain, std::string_view log_name) {
    chain.rules.push_back(ir::Rule{{},
                                   count_and_log("sekisho drop " + std::string(log_name) + ": ",
                                                 kDropLogGroup, kDropLogRate, kDropLogBurst),
                                   chain.origin});
  }

  void build_base_chains() {
    ir::Chain input = base_chain("input", ir::Hook::Input, Selector::IifName);
    add_wan_gate(input, {Selector::IifName});
    hook_at_[ir::Hook::Input] = input.rules.size();
    input.rules.push_back(established_first());
    input.rules.push_back(neighbour_discovery());
    if (!input_dispatch_.empty()) {
      add_map("input_zones", {FieldType::IfName}, std::move(input_dispatch_),
              "zones to the gateway");
      input.rules.push_back(
          ir::Rule{{lookup({Selector::IifName}, Match::Op::VerdictMap, "input_zones")}, {}, {}});
    }
    finish_base_chain(input, "input");

    ir::Chain forward = base_chain("forward", ir::Hook::Forward, Selector::IifName);
    add_wan_gate(forward, {Selector::IifName, Selector::OifName});
    hook_at_[ir::Hook::Forward] = forward.rules.size();
    const ir::Rule::Statements gate = {verdict(ir::VerdictKind::Goto, "session_gate")};
    const ir::Origin gate_origin{{}, "VPN traffic passes the session gate first"};
    if (vpn_interfaces_.size() == 1) {
      // One interface: a plain comparison, as nft itself would make of a one-element set.
      forward.rules.push_back(ir::Rule{
          {equal(Selector::IifName, vpn_interfaces_.front().key.front().lo)}, gate, gate_origin});
    } else if (!vpn_interfaces_.empty()) {
      ir::Set interfaces;
      interfaces.name = "__vpn_interfaces_" + std::to_string(anonymous_++);
      interfaces.anonymous = true;
      interfaces.key = {FieldType::IfName};
      interfaces.elements = std::move(vpn_interfaces_);
      forward.rules.push_back(ir::Rule{
          {lookup({Selector::IifName}, Match::Op::InSet, interfaces.name)}, gate, gate_origin});
      ruleset_.sets.push_back(std::move(interfaces));
    }
    forward.rules.push_back(established_first());
    if (!forward_dispatch_.empty()) {
      add_map("forward_zones", {FieldType::IfName, FieldType::IfName}, std::move(forward_dispatch_),
              "zone pairs");
      forward.rules.push_back(ir::Rule{
          {lookup({Selector::IifName, Selector::OifName}, Match::Op::VerdictMap, "forward_zones")},
          {},
          {}});
    }
    finish_base_chain(forward, "forward");

    ir::Chain output = base_chain("output", ir::Hook::Output, Selector::OifName);
    add_wan_gate(output, {Selector::OifName});
    hook_at_[ir::Hook::Output] = output.rules.size();
    output.rules.push_back(established_first());
    output.rules.push_back(neighbour_discovery());
    if (!output_dispatch_.empty()) {
      add_map("output_zones", {FieldType::IfName}, std::move(output_dispatch_),
              "the gateway to zones");
      output.rules.push_back(
          ir::Rule{{lookup({Selector::OifName}, Match::Op::VerdictMap, "output_zones")}, {}, {}});
    }
    finish_base_chain(output, "output");

    // Base chains first: the order a reader follows a packet in.
    std::vector<ir::Chain> chains{std::move(input), std::move(forward), std::move(output)};
    for (ir::Chain& chain : ruleset_.chains) {
      chains.push_back(std::move(chain));
    }
    ruleset_.chains = std::move(chains);
  }

  void build_nat() {
    if (!policy_.wan || policy_.wan->nat != NatMode::Masquerade) {
      return;
    }
    ir::Chain nat;
    nat.name = "postrouting";
    nat.hook = ir::Hook::Postrouting;
    nat.nat = true;
    nat.priority = 100;
    nat.origin = ir::Origin{policy_.wan->pos, "wan.nat: masquerade"};
    // IPv4 only: IPv6 is routed, not translated.
    nat.rules.push_back(
        ir::Rule{{equal(Selector::OifName, ir::value_of_ifname(policy_.wan->interface.name)),
                  equal(Selector::NfProto, ir::value_of_number(2, 1))},
                 {simple(Statement::Kind::Masquerade)},
                 nat.origin});
    ruleset_.chains.push_back(std::move(nat));
  }

  const Policy& policy_;
  Resolver resolver_;
  ir::Ruleset ruleset_;
  std::vector<ir::Element> forward_dispatch_;
  std::vector<ir::Element> input_dispatch_;
  std::vector<ir::Element> output_dispatch_;
  std::vector<ir::Element> vpn_interfaces_;
  std::map<std::string, std::vector<ir::SetId>> scheduled_sets_;
  // Where the plugins' parts are jumped to in each base chain (compile_plugins.hpp).
  std::map<ir::Hook, std::size_t> hook_at_;
  int anonymous_ = 0;
  // Fixed names are reserved up front; generated ones contain "_to_" and cannot meet them.
  std::set<std::string> taken_names_{
      "input",       "forward",      "output",        "mac_guard",       "session_gate",
      "postrouting", "input_zones",  "forward_zones", "output_zones",    "sessions_v4",
      "sessions_v6", "mac_bound_v4", "mac_bound_v6",  "mac_bindings_v4", "mac_bindings_v6",
      "wan_closed",  "wan_down"};
};

}  // namespace

std::uint32_t schedule_mark(const Policy& policy, std::string_view schedule) {
  // FNV-1a of the name: a connection keeps its schedule's mark across a reload that adds,
  // removes or reorders schedules. Two names that meet take the next free value, in file
  // order.
  std::set<std::uint32_t> taken;
  for (const Schedule& candidate : policy.schedules) {
    std::uint32_t hash = 2166136261u;
    for (unsigned char byte : candidate.name) {
      hash = (hash ^ byte) * 16777619u;
    }
    std::uint32_t mark = kScheduleMarkBit | (hash & ~kScheduleMarkBit);
    while (mark == kScheduleMarkBit || !taken.insert(mark).second) {
      mark = kScheduleMarkBit | ((mark + 1) & ~kScheduleMarkBit);
    }
    if (candidate.name == schedule) {
      return mark;
    }
  }
  return 0;
}

ir::Ruleset compile(const Policy& policy) {
  return Compiler(policy).run();
}

}  // namespace sekisho::policy
