#include "tests/plugins/probe_plugin.hpp"

#include "policy/resolve.hpp"

namespace sekisho::plugins::probe {

namespace {

constexpr std::uint16_t kModbusPort = 502;

policy::Extension parse_section(const policy::YamlNode& node, policy::Reader& reader) {
  if (!reader.mapping(node, "probe", "probe")) {
    return {};
  }
  Section section;
  section.pos = node.pos;
  if (const policy::YamlNode* zone = node.find("zone")) {
    if (auto name = reader.name(*zone, "probe.zone")) {
      section.zone = *name;
    }
  } else {
    reader.missing(node, node.pos, "probe", "zone");
  }
  if (const policy::YamlNode* port = node.find("port")) {
    section.port =
        static_cast<std::uint16_t>(reader.integer(*port, "probe.port", 1, 65535).value_or(0));
  }
  if (const policy::YamlNode* inspector = node.find("inspector")) {
    section.inspector = reader.string(*inspector, "probe.inspector").value_or("");
  }
  if (const policy::YamlNode* misbehave = node.find("misbehave")) {
    section.misbehave = reader.string(*misbehave, "probe.misbehave").value_or("");
  }
  return policy::make_extension(std::move(section));
}

policy::Extension parse_clause(const policy::YamlNode& node, policy::Reader& reader) {
  if (auto on = reader.boolean(node, "probe")) {
    return policy::make_extension(Clause{*on, node.pos});
  }
  return {};
}

void check_section(const policy::Policy& policy, policy::Diagnostics& diagnostics) {
  const Section* section = policy.extensions.find<Section>("probe");
  if (section && !section->zone.name.empty() && !policy.find_zone(section->zone.name)) {
    diagnostics.error(section->zone.pos, "probe-unknown-zone",
                      "probe.zone: no zone '" + section->zone.name + "'",
                      "name one of the zones under 'zones'");
  }
}

void check_clause(const policy::Policy& policy, policy::Diagnostics& diagnostics) {
  if (policy.extensions.contains("probe")) {
    return;
  }
  for (const policy::Rule& rule : policy.rules) {
    const Clause* clause = rule.extensions.find<Clause>("probe");
    if (clause && clause->on) {
      diagnostics.error(clause->pos, "probe-needs-section",
                        "rule '" + rule.name + "' is probed, but the policy has no 'probe'",
                        "add a top-level 'probe' section");
    }
  }
}

ir::Statement verdict(ir::VerdictKind kind, std::string chain = {}) {
  ir::Statement statement;
  statement.kind = ir::Statement::Kind::Verdict;
  statement.verdict = ir::Verdict{kind, std::move(chain)};
  return statement;
}

ir::Statement set_update(ir::Statement::Kind kind, std::string set, std::vector<ir::Selector> key) {
  ir::Statement statement;
  statement.kind = kind;
  statement.set = std::move(set);
  statement.set_key = std::move(key);
  return statement;
}

void compile(const policy::Policy& policy, Contribution& contribution) {
  const Section* section = policy.extensions.find<Section>("probe");
  if (!section) {
    return;
  }
  const ir::Origin origin{section->pos, "probe"};
  ir::Set seen;
  seen.name = "probe_seen";
  seen.key = {ir::FieldType::Ipv4Addr};
  seen.size = 4096;
  seen.fill = ir::SetFill::Kernel;
  seen.origin = origin;
  const ir::SetId seen_id = contribution.add_set(std::move(seen));
  // A scan detector's set: (source, destination, port) with a timeout.
  ir::Set scans;
  scans.name = "probe_scans";
  scans.key = {ir::FieldType::Ipv4Addr, ir::FieldType::Ipv4Addr, ir::FieldType::InetProto,
               ir::FieldType::InetService};
  scans.size = 65536;
  scans.timeout = true;
  scans.fill = ir::SetFill::Kernel;
  scans.origin = origin;
  contribution.add_set(std::move(scans));

  // What a Modbus inspector steers: tcp/502 to each IPv4 host of the zone.
  ir::Set flows;
  flows.name = "probe_flows";
  flows.key = {ir::FieldType::Ipv4Addr, ir::FieldType::InetService};
  flows.origin = origin;
  const policy::Resolver resolver(policy);
  const policy::Zone* zone = policy.find_zone(section->zone.name);
  for (const policy::Host& host : policy.hosts) {
    for (const policy::IpAddress& address : host.addresses) {
      if (address.family == policy::Family::V4 && resolver.zone_of(address) == zone) {
        flows.elements.push_back(
            ir::Element{{ir::single(ir::value_of_bytes(address.bytes.data(), 4)),
                         ir::single(ir::value_of_number(kModbusPort, 2))},
                        {},
                        origin,
                        {},
                        0});
      }
    }
  }
  const ir::SetId flows_id = contribution.add_set(std::move(flows));

  ir::Set interfaces;
  interfaces.name = "probe_interfaces";
  interfaces.key = {ir::FieldType::IfName};
  interfaces.origin = origin;
  for (const policy::NameRef& interface : zone->interfaces) {
    interfaces.elements.push_back(
        ir::Element{{ir::single(ir::value_of_ifname(interface.name))}, {}, origin, {}, 0});
  }
  contribution.add_set(std::move(interfaces));

  ir::Statement counter;
  counter.kind = ir::Statement::Kind::Counter;
  ir::Statement log;
  log.kind = ir::Statement::Kind::Log;
  log.log_group = contribution.log_group();
  log.log_prefix = "probe: ";
  const ir::Match from_zone{{ir::Selector::IifName}, ir::Match::Op::InSet, "probe_interfaces", {}};
  contribution.hook(ir::Hook::Input, ir::Rule{{from_zone}, {counter, log}, origin});
  // The packet path fills its sets: each source seen, and each (source, destination,
  // protocol, port) for a minute, with a counter of its own, as a scan detector would.
  contribution.hook(
      ir::Hook::Input,
      ir::Rule{{from_zone},
               {set_update(ir::Statement::Kind::SetAdd, "probe_seen", {ir::Selector::IpSaddr})},
               origin});
  ir::Statement scan = set_update(
      ir::Statement::Kind::SetUpdate, "probe_scans",
      {ir::Selector::IpSaddr, ir::Selector::IpDaddr, ir::Selector::L4Proto, ir::Selector::ThDport});
  scan.set_timeout_ms = 60'000;
  scan.per_element = {counter};
  contribution.hook(ir::Hook::Input, ir::Rule{{from_zone}, {scan}, origin});

  const std::uint32_t mark = contribution.packet_mark_bits(1);
  std::vector<ir::Selector> key = {ir::Selector::IpDaddr, ir::Selector::ThDport};
  if (section->misbehave == "steer-key") {
    key = {ir::Selector::IpSaddr, ir::Selector::IpDaddr};  // the second field is a port
  } else if (section->misbehave == "steer-iif") {
    key = {ir::Selector::IifName};  // read again at output, where there is none
  }
  const bool steer_kernel_set = section->misbehave == "steer-kernel-set";
  contribution.steer(ir::Steering{steer_kernel_set ? seen_id : flows_id, std::move(key), mark,
                                  section->port, origin});

  // Each way of breaking the seam that the compiler must refuse.
  if (section->misbehave == "accept") {
    contribution.hook(ir::Hook::Forward, ir::Rule{{}, {verdict(ir::VerdictKind::Accept)}, origin});
  } else if (section->misbehave == "name") {
    ir::Chain chain;
    chain.name = "input";
    contribution.add_chain(std::move(chain));
  } else if (section->misbehave == "mark-set" || section->misbehave == "tproxy") {
    // The input chain accepts the steering mark: a plugin's rule may not set it.
    ir::Statement statement;
    statement.kind =
        section->misbehave == "tproxy" ? ir::Statement::Kind::Tproxy : ir::Statement::Kind::MarkSet;
    statement.mark = mark;
    statement.port = section->port;
    contribution.hook(ir::Hook::Input, ir::Rule{{}, {statement}, origin});
  } else if (section->misbehave == "ct-mark") {
    ir::Statement mark_set;
    mark_set.kind = ir::Statement::Kind::CtMarkSet;
    contribution.hook(ir::Hook::Input, ir::Rule{{}, {mark_set}, origin});
  } else if (section->misbehave == "interval") {
    ir::Set ranges;
    ranges.name = "probe_ranges";
    ranges.key = {ir::FieldType::Ipv4Addr};
    ranges.interval = true;
    ranges.fill = ir::SetFill::Kernel;
    ranges.origin = origin;
    contribution.add_set(std::move(ranges));
  } else if (section->misbehave == "fill-static") {
    // The packet path may fill only the plugin's own sets the kernel fills.
    contribution.hook(ir::Hook::Input,
                      ir::Rule{{},
                               {set_update(ir::Statement::Kind::SetAdd, "probe_interfaces",
                                           {ir::Selector::IifName})},
                               origin});
  } else if (section->misbehave == "fill-core") {
    const std::string core = contribution.ruleset().sets.front().name;
    contribution.hook(
        ir::Hook::Input,
        ir::Rule{
            {}, {set_update(ir::Statement::Kind::SetAdd, core, {ir::Selector::IpSaddr})}, origin});
  } else if (section->misbehave == "fill-key") {
    contribution.hook(
        ir::Hook::Input,
        ir::Rule{{},
                 {set_update(ir::Statement::Kind::SetAdd, "probe_seen", {ir::Selector::Ip6Saddr})},
                 origin});
  } else if (section->misbehave == "fill-timeout") {
    ir::Statement timed =
        set_update(ir::Statement::Kind::SetUpdate, "probe_seen", {ir::Selector::IpSaddr});
    timed.set_timeout_ms = 60'000;  // probe_seen has no timeouts
    contribution.hook(ir::Hook::Input, ir::Rule{{}, {timed}, origin});
  } else if (section->misbehave == "fill-ms") {
    ir::Statement timed = set_update(ir::Statement::Kind::SetUpdate, "probe_scans",
                                     {ir::Selector::IpSaddr, ir::Selector::IpDaddr,
                                      ir::Selector::L4Proto, ir::Selector::ThDport});
    timed.set_timeout_ms = 1'500;  // the kernel keeps jiffies
    contribution.hook(ir::Hook::Input, ir::Rule{{}, {timed}, origin});
  } else if (section->misbehave == "fill-unbounded") {
    ir::Set unbounded;
    unbounded.name = "probe_unbounded";
    unbounded.key = {ir::FieldType::Ipv4Addr};
    unbounded.fill = ir::SetFill::Kernel;
    unbounded.origin = origin;
    contribution.add_set(std::move(unbounded));
    contribution.hook(ir::Hook::Input,
                      ir::Rule{{},
                               {set_update(ir::Statement::Kind::SetAdd, "probe_unbounded",
                                           {ir::Selector::IpSaddr})},
                               origin});
  } else if (section->misbehave == "fill-log") {
    ir::Statement logged =
        set_update(ir::Statement::Kind::SetAdd, "probe_seen", {ir::Selector::IpSaddr});
    logged.per_element = {log};
    contribution.hook(ir::Hook::Input, ir::Rule{{}, {logged}, origin});
  } else if (section->misbehave == "jump") {
    contribution.hook(ir::Hook::Input,
                      ir::Rule{{}, {verdict(ir::VerdictKind::Jump, "session_gate")}, origin});
  }
}

constexpr std::string_view kSectionSchema = R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["zone"],
  "properties": {
    "zone": { "type": "string" },
    "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
    "inspector": { "type": "string" },
    "misbehave": { "type": "string" }
  }
})";

constexpr std::string_view kSectionManual = R"(.SS probe
The test plugin's section:
.B zone
names a zone,
.B port
the port of the transparent listener its flows (tcp/502 to the zone's hosts) go to;
.B inspector
a Python script sekishod runs as that listener (a supervised child);
.B misbehave
breaks the seam.
)";

const PolicyPart kParts[] = {
    {PolicyPart::Place::Section,
     "probe",
     {{"probe", {"zone", "port", "inspector", "misbehave"}}},
     kSectionSchema,
     kSectionManual,
     parse_section,
     check_section},
    {PolicyPart::Place::RuleClause,
     "probe",
     {},
     R"({ "type": "boolean" })",
     ".TP\n.B rules[].probe\nwhether the test plugin probes the rule.\n",
     parse_clause,
     check_clause},
};

constexpr control::MethodInfo kMethods[] = {kStats, kNote, kWatch};

}  // namespace

const Plugin plugin{"probe", kParts, compile, kMethods};

}  // namespace sekisho::plugins::probe
