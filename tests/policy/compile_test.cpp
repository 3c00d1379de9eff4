// The compiler's shape (docs/architecture.md, Kernel layout), its independence from the number of
// hosts, and its determinism.

#include "policy/compile.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include <doctest/doctest.h>

#include "../bench/policy_generator.hpp"
#include "ir_evaluator.hpp"
#include "policy/open_schedules.hpp"
#include "policy/render_nft.hpp"
#include "policy_fixture.hpp"

using namespace sekisho;
using namespace sekisho::policy;
using namespace sekisho::policy::testing;

namespace {

ir::Ruleset compile_text(const std::string& text) {
  LoadResult result = load(text);
  REQUIRE_MESSAGE(result.policy, dump(result.diagnostics));
  return compile(*result.policy);
}

std::string factory_line() {
  std::ifstream in(SEKISHO_SOURCE_DIR "/configs/factory-line.yaml");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The family whose header a selector reads (an ICMP type counts as its family's), if any.
std::optional<Family> family_of(ir::Selector selector) {
  switch (selector) {
    case ir::Selector::IpSaddr:
    case ir::Selector::IpDaddr:
    case ir::Selector::IcmpType:
      return Family::V4;
    case ir::Selector::Ip6Saddr:
    case ir::Selector::Ip6Daddr:
    case ir::Selector::Icmpv6Type:
      return Family::V6;
    default:
      return std::nullopt;
  }
}

// Every rule that reads an address or an ICMP type without an earlier `meta nfproto` of
// the same family in the rule, as "CHAIN rule N: SELECTOR".
std::vector<std::string> rules_without_family(const ir::Ruleset& ruleset) {
  std::vector<std::string> out;
  for (const ir::Chain& chain : ruleset.chains) {
    for (std::size_t i = 0; i < chain.rules.size(); ++i) {
      const ir::Rule& rule = chain.rules[i];
      std::optional<Family> stated;
      auto check = [&](const std::vector<ir::Selector>& selectors) {
        for (ir::Selector selector : selectors) {
          const auto family = family_of(selector);
          if (family && family != stated) {
            out.push_back(chain.name + " rule " + std::to_string(i + 1) + ": " +
                          std::string(ir::selector_name(selector)));
          }
        }
      };
      for (const ir::Match& match : rule.matches) {
        if (match.op == ir::Match::Op::Equal &&
            match.selectors == std::vector{ir::Selector::NfProto}) {
          const auto nfproto = match.values[0].lo.bytes[0];
          stated = nfproto == 2    ? std::optional{Family::V4}
                   : nfproto == 10 ? std::optional{Family::V6}
                                   : std::nullopt;
          continue;
        }
        check(match.selectors);
      }
      for (const ir::Statement& statement : rule.statements) {
        check(statement.map_key);
      }
    }
  }
  return out;
}

// Every example policy and golden compile input.
std::vector<std::filesystem::path> example_policies() {
  std::vector<std::filesystem::path> out;
  for (const char* dir :
       {SEKISHO_SOURCE_DIR "/configs", SEKISHO_SOURCE_DIR "/tests/golden/compile"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml") {
        out.push_back(entry.path());
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("base chains drop by default and check conntrack state first") {
  ir::Ruleset ruleset = compile_text(factory_line());
  for (const char* name : {"input", "forward", "output"}) {
    const ir::Chain* chain = ruleset.find_chain(name);
    REQUIRE(chain);
    CHECK(chain->policy_drop);
    CHECK(!chain->nat);
    // The last rule counts and logs what falls through to the drop policy.
    const ir::Rule& last = chain->rules.back();
    REQUIRE(last.statements.size() == 3);
    CHECK(last.statements[0].kind == ir::Statement::Kind::Counter);
    CHECK(last.statements[1].kind == ir::Statement::Kind::Limit);
    CHECK(last.statements[2].kind == ir::Statement::Kind::Log);
    CHECK(last.statements[2].log_group == kDropLogGroup);
  }
  // forward: the WAN gate (in and out), the session gate for VPN interfaces, then the
  // conntrack verdict map, then zone dispatch.
  const ir::Chain& forward = *ruleset.find_chain("forward");
  REQUIRE(forward.rules.size() == 6);
  for (int i : {0, 1}) {
    CHECK(forward.rules[i].matches[0].set == kWanClosedSet);
    CHECK(forward.rules[i].statements[0].verdict.chain == "wan_down");
  }
  CHECK(forward.rules[2].statements[0].verdict.chain == "session_gate");
  CHECK(forward.rules[3].matches[0].selectors == std::vector{ir::Selector::CtState});
  CHECK(forward.rules[3].matches[0].op == ir::Match::Op::VerdictMap);
  CHECK(forward.rules[4].matches[0].selectors ==
        std::vector{ir::Selector::IifName, ir::Selector::OifName});
}

TEST_CASE("a schedule's ct mark follows its name, not its place in the file") {
  const std::string text = factory_line();
  ir::Ruleset before = compile_text(text);
  // A schedule inserted before operating-hours, and one after it.
  ir::Ruleset after = compile_text(
      replaced(text, "schedules:\n  operating-hours:\n",
               "schedules:\n  night:\n    weekly: [daily 22:00-06:00]\n  operating-hours:\n"));
  LoadResult loaded = load(text);
  REQUIRE(loaded.policy);
  const std::uint32_t mark = schedule_mark(*loaded.policy, "operating-hours");
  CHECK((mark & kScheduleMarkBit) != 0);
  CHECK(mark != kScheduleMarkBit);
  CHECK(schedule_mark(*loaded.policy, "no-such-schedule") == 0);
  auto mark_in = [](const ir::Ruleset& ruleset) {
    for (const ir::Chain& chain : ruleset.chains) {
      for (const ir::Rule& rule : chain.rules) {
        for (const ir::Statement& statement : rule.statements) {
          if (statement.kind == ir::Statement::Kind::CtMarkSet) {
            return statement.mark;
          }
        }
      }
    }
    return std::uint32_t{0};
  };
  CHECK(mark_in(before) == mark);
  CHECK(mark_in(after) == mark);
  LoadResult two =
      load(replaced(text, "schedules:\n  operating-hours:\n",
                    "schedules:\n  night:\n    weekly: [daily 22:00-06:00]\n  operating-hours:\n"));
  REQUIRE(two.policy);
  CHECK(schedule_mark(*two.policy, "night") != schedule_mark(*two.policy, "operating-hours"));
  CHECK(schedule_mark(*two.policy, "operating-hours") == mark);
}

TEST_CASE("the closed WAN gate passes nothing through the WAN, established connections included") {
  LoadResult loaded = load(factory_line());
  REQUIRE(loaded.policy);
  ir::Ruleset ruleset = compile(*loaded.policy);
  const auto cloud = *parse_ip("203.0.113.10");
  const auto gateway = *parse_ip("198.51.100.2");
  const auto plc = *parse_ip("192.168.10.21");
  const auto historian = *parse_ip("10.20.1.5");
  sekisho::testing::EvalPacket to_cloud{ir::Hook::Output, "",   "wan0", gateway, cloud,
                                        Proto::Tcp,       8883, -1,     0x8,     {}};
  sekisho::testing::EvalPacket reply{ir::Hook::Input, "wan0", "", cloud, gateway,
                                     Proto::Tcp,      40000,  -1, 0x2,   {}};
  sekisho::testing::EvalPacket forwarded{ir::Hook::Forward, "wan0", "lan0", cloud, plc,
                                         Proto::Tcp,        40000,  -1,     0x2,   {}};
  sekisho::testing::EvalPacket inside{ir::Hook::Forward, "it0", "lan0", historian, plc,
                                      Proto::Tcp,        502,   -1,     0x8,       {}};
  auto judge = [&](const ir::Ruleset& rules, const sekisho::testing::EvalPacket& packet) {
    return sekisho::testing::IrEvaluator(rules, [](const std::string&) { return false; })
        .accepts(packet);
  };
  // Loaded open: the cloud egress and established replies pass.
  CHECK(judge(ruleset, to_cloud));
  CHECK(judge(ruleset, reply));
  CHECK(judge(ruleset, forwarded));
  fill_wan_gate(ruleset, *loaded.policy, true);
  REQUIRE(ruleset.find_set(kWanClosedSet)->elements.size() == 1);
  CHECK_FALSE(judge(ruleset, to_cloud));
  CHECK_FALSE(judge(ruleset, reply));
  CHECK_FALSE(judge(ruleset, forwarded));
  CHECK(judge(ruleset, inside));  // the plant itself goes on
  fill_wan_gate(ruleset, *loaded.policy, false);
  CHECK(ruleset.find_set(kWanClosedSet)->elements.empty());
  CHECK(judge(ruleset, to_cloud));
}

TEST_CASE("one allow set per zone pair, family and kind; scheduled rules in their own set") {
  ir::Ruleset ruleset = compile_text(factory_line());
  const ir::Set* historian = ruleset.find_set("it_to_ot_v4");
  REQUIRE(historian);
  CHECK_FALSE(historian->interval);        // exact host pairs: a hash set
  CHECK(historian->elements.size() == 6);  // historian x 3 controllers x {opcua, modbus}
  const ir::Set* scheduled = ruleset.find_set("it_to_ot_v4_s_operating-hours");
  REQUIRE(scheduled);
  CHECK(scheduled->elements.empty());
  CHECK(scheduled->schedule == "operating-hours");
  CHECK(scheduled->scheduled_elements.size() == 2);  // mes has two addresses
  // The zone-wide ping rule is one element, not one per host.
  CHECK(scheduled->interval);  // filled at run time: whatever its elements will be
  const ir::Set* ping = ruleset.find_set("it_to_ot_v4_icmp_ranges");
  REQUIRE(ping);
  CHECK(ping->interval);
  CHECK_FALSE(ruleset.find_set("it_to_ot_v4_icmp"));  // no exact ping flow
  CHECK(ping->elements.size() == 1);
  CHECK(ir::render_range(ir::FieldType::Ipv4Addr, ping->elements[0].key[0]) == "10.20.0.0/16");
  // log: true adds a logging lookup before the accepting one.
  REQUIRE(ruleset.find_set("it_to_ot_v4_icmp_log_ranges"));
  const ir::Chain& it_to_ot = *ruleset.find_chain("it_to_ot");
  CHECK(it_to_ot.rules.front().matches.back().set == "it_to_ot_v4_icmp_log_ranges");
}

TEST_CASE("the compiler hands the daemon a typed handle for every set it fills at run time") {
  const ir::Ruleset ruleset = compile_text(factory_line());
  const ir::RuntimeSets& runtime = ruleset.runtime;
  REQUIRE(runtime.wan_gate);
  CHECK(ruleset.at(*runtime.wan_gate).name == kWanClosedSet);
  REQUIRE(runtime.session_maps[0]);
  REQUIRE(runtime.session_maps[1]);
  CHECK(ruleset.at(*runtime.session_maps[0]).name == "sessions_v4");
  CHECK(ruleset.at(*runtime.session_maps[1]).name == "sessions_v6");
  REQUIRE(runtime.scheduled.size() == 1);
  const ir::RuntimeSets::Scheduled& hours = runtime.scheduled.front();
  CHECK(hours.schedule == "operating-hours");
  CHECK(runtime.find_scheduled("operating-hours") == &hours);
  CHECK_FALSE(runtime.find_scheduled("never"));
  CHECK(hours.ct_mark ==
        schedule_mark(*load_policy_text(factory_line(), "f.yaml").policy, "operating-hours"));
  CHECK(runtime.kernel_filled.empty());
  // Every set that is not static is reachable by exactly one handle of its kind, and
  // every handle leads to a set of that kind.
  std::map<std::uint32_t, ir::SetFill> handed;
  auto hand = [&](ir::SetId id, ir::SetFill fill) {
    REQUIRE(id.index < ruleset.sets.size());
    CHECK(ruleset.at(id).fill == fill);
    CHECK(handed.emplace(id.index, fill).second);
  };
  hand(*runtime.wan_gate, ir::SetFill::WanGate);
  hand(*runtime.session_maps[0], ir::SetFill::SessionMap);
  hand(*runtime.session_maps[1], ir::SetFill::SessionMap);
  for (ir::SetId id : hours.sets) {
    hand(id, ir::SetFill::Scheduled);
    CHECK(ruleset.at(id).schedule == "operating-hours");
  }
  for (std::uint32_t i = 0; i < ruleset.sets.size(); ++i) {
    CHECK_MESSAGE((ruleset.sets[i].fill == ir::SetFill::Static) == !handed.contains(i),
                  ruleset.sets[i].name);
    CHECK((ruleset.sets[i].schedule.empty()) == (ruleset.sets[i].fill != ir::SetFill::Scheduled));
  }
  // Handles are indexes: a copy of the ruleset answers them with its own sets.
  ir::Ruleset copy = ruleset;
  CHECK(&copy.at(*runtime.wan_gate) != &ruleset.at(*runtime.wan_gate));
  CHECK(copy.at(*copy.runtime.wan_gate).name == kWanClosedSet);
}

TEST_CASE("exact flows go to a hash set, the rest to an interval set, never both") {
  ir::Ruleset ruleset = compile_text(R"(version: 1
zones:
  ot: { interfaces: [lan0], networks: [192.0.2.0/24] }
  it: { interfaces: [it0], networks: [198.18.0.0/24] }
hosts:
  plc: { address: 192.0.2.10 }
  scada: { address: 198.18.0.5 }
rules:
  - { name: exact, from: scada, to: plc, services: [tcp/502] }
  - { name: range, from: scada, to: plc, services: [tcp/9000-9010] }
  - { name: inside the zone rule, from: scada, to: plc, services: [tcp/22] }
  - { name: zone, from: it, to: plc, services: [tcp/22] }
)");
  const ir::Set* exact = ruleset.find_set("it_to_ot_v4");
  const ir::Set* ranges = ruleset.find_set("it_to_ot_v4_ranges");
  REQUIRE(exact);
  REQUIRE(ranges);
  CHECK_FALSE(exact->interval);
  CHECK(ranges->interval);
  CHECK(exact->elements.size() == 1);   // 502; 22 from scada is inside the zone rule
  CHECK(ranges->elements.size() == 2);  // 9000-9010, and it -> plc 22
  for (const ir::Element& element : exact->elements) {
    for (const ir::Range& range : element.key) {
      CHECK(range.single());
    }
  }
  const ir::Chain& chain = *ruleset.find_chain("it_to_ot");
  REQUIRE(chain.rules.size() == 2);
  CHECK(chain.rules[0].matches.back().set == "it_to_ot_v4");
  CHECK(chain.rules[1].matches.back().set == "it_to_ot_v4_ranges");
}

TEST_CASE("every element remembers the policy line that produced it") {
  ir::Ruleset ruleset = compile_text(factory_line());
  for (const ir::Set& set : ruleset.sets) {
    if (set.anonymous || set.name.starts_with("sessions")) {
      continue;
    }
    for (const auto* elements : {&set.elements, &set.scheduled_elements}) {
      for (const ir::Element& element : *elements) {
        CHECK_MESSAGE(element.origin.pos.line > 0, set.name);
      }
    }
  }
  CHECK(ruleset.find_set("it_to_ot_v4")->elements[0].origin.pos.line == 53);
}

TEST_CASE("implicit gateway services, cloud egress, NAT and MAC bindings") {
  ir::Ruleset ruleset = compile_text(factory_line());
  const ir::Set* wireguard = ruleset.find_set("wan_to_gateway_v4_ranges");
  REQUIRE(wireguard);
  REQUIRE(wireguard->elements.size() == 1);
  CHECK(ir::render_range(ir::FieldType::InetService, wireguard->elements[0].key[3]) == "51820");
  const ir::Set* cloud = ruleset.find_set("gateway_to_wan_v4_ranges");
  REQUIRE(cloud);
  CHECK(cloud->elements.size() == 2);
  const ir::Chain* nat = ruleset.find_chain("postrouting");
  REQUIRE(nat);
  CHECK(nat->nat);
  CHECK(nat->rules[0].statements[0].kind == ir::Statement::Kind::Masquerade);
  const ir::Set* bindings = ruleset.find_set("mac_bindings_v4");
  REQUIRE(bindings);
  CHECK(bindings->elements.size() == 1);
  CHECK(ruleset.find_chain("mac_guard")->hook == ir::Hook::Prerouting);
}

TEST_CASE("every address and ICMP type match in the inet table states its family") {
  const auto policies = example_policies();
  REQUIRE(policies.size() >= 5);
  for (const auto& path : policies) {
    const LoadResult loaded = load_policy_file(path.string());
    REQUIRE_MESSAGE(loaded.policy, path.string());
    for (const std::string& rule : rules_without_family(compile(*loaded.policy))) {
      FAIL_CHECK(path.filename().string() << ": " << rule << " without its family");
    }
  }
}

TEST_CASE("an IPv4 packet of protocol 58 is not neighbour discovery") {
  const LoadResult loaded = load(factory_line());
  REQUIRE(loaded.policy);
  const ir::Ruleset ruleset = compile(*loaded.policy);
  const sekisho::testing::IrEvaluator evaluator(ruleset, [](const std::string&) { return false; });
  // hmi-1 has no rule to the gateway: only the neighbour discovery rule could let it in.
  for (int type : {133, 134, 135, 136}) {
    for (std::uint32_t ct_state : {0x8U, 0x40U}) {  // new; untracked (conntrack not asked)
      sekisho::testing::EvalPacket in{ir::Hook::Input,
                                      "lan0",
                                      "",
                                      *parse_ip("192.168.10.31"),
                                      *parse_ip("192.168.10.1"),
                                      Proto::Icmpv6,
                                      0,
                                      type,
                                      ct_state,
                                      {}};
      CHECK_MESSAGE(!evaluator.accepts(in), "IPv4 protocol 58, type " << type);
      in.source = *parse_ip("fd10:1::31");
      in.destination = *parse_ip("fe80::1");
      CHECK_MESSAGE(evaluator.accepts(in), "ICMPv6 type " << type);
      sekisho::testing::EvalPacket out = in;
      out.hook = ir::Hook::Output;
      std::swap(out.iif, out.oif);
      std::swap(out.source, out.destination);
      CHECK_MESSAGE(evaluator.accepts(out), "ICMPv6 type " << type << " out");
      out.source = *parse_ip("192.168.10.1");
      out.destination = *parse_ip("192.168.10.31");
      CHECK_MESSAGE(!evaluator.accepts(out), "IPv4 protocol 58, type " << type << " out");
    }
  }
}

TEST_CASE("a MAC-bound host's address passes only from its MAC, on every link type") {
  // tun0 in plc-1's zone: a link without Ethernet headers (tun, WireGuard and PPP alike).
  const LoadResult loaded =
      load(replaced(factory_line(), "interfaces: [lan0]", "interfaces: [lan0, tun0]"));
  REQUIRE(loaded.policy);
  const ir::Ruleset ruleset = compile(*loaded.policy);
  const sekisho::testing::IrEvaluator evaluator(ruleset, [](const std::string&) { return false; });
  // "controllers take time from IT": plc-1 (bound) and plc-2 to ntp-it, udp/123.
  sekisho::testing::EvalPacket packet{ir::Hook::Forward,
                                      "lan0",
                                      "it0",
                                      *parse_ip("192.168.10.21"),
                                      *parse_ip("10.20.0.1"),
                                      Proto::Udp,
                                      123,
                                      -1,
                                      0x8,
                                      parse_mac("00:1d:9c:c8:12:01")};
  CHECK(evaluator.accepts(packet));
  packet.ether_source = parse_mac("00:1d:9c:c8:12:99");
  CHECK_FALSE(evaluator.accepts(packet));
  packet.iif = "tun0";
  packet.ether_source.reset();
  CHECK_FALSE(evaluator.accepts(packet));
  packet.ct_state = 0x2;  // an established connection's packets meet the guard too
  CHECK_FALSE(evaluator.accepts(packet));
  packet.source = *parse_ip("192.168.10.22");  // plc-2 is not bound: any link will do
  CHECK(evaluator.accepts(packet));
  packet.ct_state = 0x8;
  CHECK(evaluator.accepts(packet));
}

TEST_CASE("a policy without zones leaves only loopback") {
  ir::Ruleset ruleset = compile_text("version: 1\n");
  CHECK(ruleset.find_chain("input")->rules.size() == 4);    // lo, ct state, ND, log
  CHECK(ruleset.find_chain("forward")->rules.size() == 2);  // ct state, log
  CHECK(ruleset.find_set("forward_zones") == nullptr);
}

TEST_CASE("the number of rules does not grow with hosts, groups or rules") {
  sekisho::testing::GeneratedPolicyShape small;
  small.ot_hosts = 10;
  small.it_hosts = 4;
  small.groups = 2;
  small.rules = 10;
  sekisho::testing::GeneratedPolicyShape large = small;
  large.ot_hosts = 10000;
  ir::Ruleset a = compile_text(sekisho::testing::generate_policy(small));
  ir::Ruleset b = compile_text(sekisho::testing::generate_policy(large));
  MESSAGE("10 hosts: " << a.rule_count() << " rules, " << a.element_count()
                       << " elements; 10,000 hosts: " << b.rule_count() << " rules, "
                       << b.element_count() << " elements");
  CHECK(a.rule_count() == b.rule_count());
  CHECK(a.chains.size() == b.chains.size());
  CHECK(b.element_count() > 100 * a.element_count());
}

TEST_CASE("output is deterministic") {
  std::string text = sekisho::testing::generate_policy({});
  std::string first = ir::render_nft(compile_text(text), "p.yaml");
  std::string second = ir::render_nft(compile_text(text), "p.yaml");
  CHECK(first == second);
}

TEST_CASE("generated names never merge two zone pairs") {
  // "a_to" -> "b" and "a" -> "to_b" both spell a_to_to_b.
  ir::Ruleset ruleset = compile_text(R"(version: 1
zones:
  a_to: { interfaces: [e0], networks: [192.0.2.0/26] }
  b: { interfaces: [e1], networks: [192.0.2.64/26] }
  a: { interfaces: [e2], networks: [192.0.2.128/26] }
  to_b: { interfaces: [e3], networks: [192.0.2.192/26] }
rules:
  - { name: one, from: a_to, to: b, services: [tcp/1] }
  - { name: two, from: a, to: to_b, services: [tcp/2] }
)");
  const ir::Chain* first = ruleset.find_chain("a_to_to_b");
  const ir::Chain* second = ruleset.find_chain("a_to_to_b_2");
  REQUIRE(first);
  REQUIRE(second);
  REQUIRE(ruleset.find_set("a_to_to_b_v4_ranges"));
  CHECK(ruleset.find_set("a_to_to_b_v4_ranges")->elements.size() == 1);
  REQUIRE(ruleset.find_set("a_to_to_b_2_v4_ranges"));
  CHECK(ruleset.find_set("a_to_to_b_2_v4_ranges")->elements.size() == 1);
}

TEST_CASE("the WireGuard port opens on the zone holding wan.interface") {
  ir::Ruleset ruleset = compile_text(
      replaced(factory_line(), "  wan:\n    interfaces: [wan0]\n",
               "  wan:\n    interfaces: [wan0]\n  lte:\n    interfaces: [wwan0]\n    role: wan\n"
               "    networks: [198.51.100.0/24]\n"));
  CHECK(ruleset.find_set("wan_to_gateway_v4_ranges"));
  CHECK_FALSE(ruleset.find_set("lte_to_gateway_v4_ranges"));
}
