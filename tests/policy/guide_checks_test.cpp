// The guide's rules (W-1 VPN sources, W-2, L-1) and rule hygiene (shadowed, duplicate,
// never-matching rules). Each case also shows a near miss that must stay silent.

#include <doctest/doctest.h>

#include "policy_fixture.hpp"

using namespace sekisho::policy;
using namespace sekisho::policy::testing;

namespace {

std::string rule(std::string_view name, std::string_view from, std::string_view to,
                 std::string_view services, std::string_view extra = {}) {
  std::string out = "  - name: " + std::string(name) + "\n    from: " + std::string(from) +
                    "\n    to: " + std::string(to) + "\n    services: " + std::string(services) +
                    "\n";
  if (!extra.empty()) {
    out += "    " + std::string(extra) + "\n";
  }
  return out;
}

LoadResult with_rules(const std::string& rules, std::string_view extra = {}) {
  return load(policy_text("rules:\n" + rules, extra));
}

const Diagnostic* only(const LoadResult& result, std::string_view code) {
  const Diagnostic* found = nullptr;
  int count = 0;
  for (const Diagnostic& d : result.diagnostics.items()) {
    if (d.code == code) {
      found = found ? found : &d;
      ++count;
    }
  }
  CHECK_MESSAGE(count == 1, "expected one [" << code << "], got:\n" << dump(result.diagnostics));
  return found;
}

}  // namespace

TEST_CASE("rules from the VPN are refused, except to the gateway") {
  auto peer = with_rules(rule("vendor to plc", "vendor", "plc", "[modbus]"));
  const Diagnostic* d = only(peer, "vpn-source");
  REQUIRE(d);
  CHECK(d->severity == Severity::Error);
  CHECK_FALSE(peer.policy);
  auto zone = with_rules(rule("maint to line", "maint", "line", "[modbus]"));
  CHECK(only(zone, "vpn-source"));
  auto to_gateway =
      with_rules(rule("vendor pings the gateway", "vendor", "gateway", "[icmp/echo-request]"));
  CHECK_MESSAGE(to_gateway.diagnostics.items().empty(), dump(to_gateway.diagnostics));
}

TEST_CASE("W-2: nothing from the WAN reaches OT or IT") {
  auto zone = with_rules(rule("wan to plc", "wan", "plc", "[modbus]"));
  const Diagnostic* d = only(zone, "W-2");
  REQUIRE(d);
  CHECK(d->severity == Severity::Error);
  // A host that lives in the WAN zone counts as the WAN.
  auto host = with_rules(rule("cloud to scada", "cloud", "scada", "[web]"));
  CHECK(only(host, "W-2"));
  // The other direction is what the cloud needs.
  auto outbound = with_rules(rule("scada to cloud", "scada", "cloud", "[web]"));
  CHECK_MESSAGE(outbound.diagnostics.items().empty(), dump(outbound.diagnostics));
  // The WAN to the gateway itself: a warning.
  auto gateway = with_rules(rule("wan ssh", "wan", "gateway", "[tcp/22]"));
  const Diagnostic* warning = only(gateway, "W-2");
  REQUIRE(warning);
  CHECK(warning->severity == Severity::Warning);
}

TEST_CASE("L-1: 'any' between IT and OT is a warning") {
  auto any = with_rules(rule("scada any", "scada", "plc", "[any]"));
  const Diagnostic* d = only(any, "L-1");
  REQUIRE(d);
  CHECK(d->severity == Severity::Warning);
  CHECK(any.policy);
  auto reverse = with_rules(rule("plc any", "plc", "scada", "[any]"));
  CHECK(only(reverse, "L-1"));
  // 'any' inside OT does not cross the boundary.
  auto inside = with_rules(rule("plc to hmi", "plc", "hmi", "[any]"));
  CHECK_FALSE(inside.diagnostics.has_code("L-1"));
}

TEST_CASE("L-1: zone-to-zone rules in both directions") {
  auto both =
      with_rules(rule("it to ot", "it", "ot", "[modbus]") + rule("ot to it", "ot", "it", "[web]"));
  const Diagnostic* d = only(both, "L-1");
  REQUIRE(d);
  CHECK(d->message.find("'ot to it'") != std::string::npos);
  // Host-level rules back are fine (factory-line.yaml has exactly this shape).
  auto one_way = with_rules(rule("it to ot", "it", "ot", "[modbus]") +
                            rule("plc to scada", "plc", "scada", "[web]"));
  CHECK_FALSE(one_way.diagnostics.has_code("L-1"));
}

TEST_CASE("shadowed and duplicate rules") {
  auto shadowed = with_rules(rule("it to line", "it", "line", "[modbus, web]") +
                             rule("scada to plc", "scada", "plc", "[modbus]"));
  const Diagnostic* d = only(shadowed, "shadowed");
  REQUIRE(d);
  CHECK(d->severity == Severity::Warning);
  CHECK(d->message.find("'it to line'") != std::string::npos);

  auto duplicate =
      with_rules(rule("a", "scada", "plc", "[modbus]") + rule("b", "scada", "plc", "[tcp/502]"));
  CHECK(only(duplicate, "duplicate"));
  CHECK_FALSE(duplicate.diagnostics.has_code("shadowed"));

  // Order does not matter: a narrow rule before a wide one is shadowed too.
  auto wider = with_rules(rule("scada to plc", "scada", "plc", "[modbus]") +
                          rule("it to line", "it", "line", "[modbus, web]"));
  const Diagnostic* before = only(wider, "shadowed");
  REQUIRE(before);
  CHECK(before->message.find("'scada to plc'") != std::string::npos);
  // A logged rule under an unlogged one adds logging: not redundant.
  auto logged = with_rules(rule("it to line", "it", "line", "[modbus, web]") +
                           rule("scada to plc", "scada", "plc", "[modbus]", "log: true"));
  CHECK_FALSE(logged.diagnostics.has_code("shadowed"));
  auto ports =
      with_rules(rule("a", "scada", "plc", "[modbus]") + rule("b", "scada", "plc", "[tcp/503]"));
  CHECK_FALSE(ports.diagnostics.has_code("shadowed"));
  CHECK_FALSE(ports.diagnostics.has_code("duplicate"));
  const char* schedules = "schedules:\n  day:\n    weekly: [\"daily 08:00-17:00\"]\n";
  auto scheduled_first = with_rules(rule("a", "scada", "plc", "[modbus]", "schedule: day") +
                                        rule("b", "scada", "plc", "[modbus]"),
                                    schedules);
  // An unscheduled rule covers a scheduled one, wherever it stands; not the reverse.
  const Diagnostic* scheduled = only(scheduled_first, "shadowed");
  REQUIRE(scheduled);
  CHECK(scheduled->message.find("rule 'a' adds nothing") != std::string::npos);
  CHECK_FALSE(scheduled_first.diagnostics.has_code("duplicate"));
  auto scheduled_later = with_rules(rule("a", "scada", "plc", "[modbus]") +
                                        rule("b", "scada", "plc", "[modbus]", "schedule: day"),
                                    schedules);
  const Diagnostic* later = only(scheduled_later, "shadowed");
  REQUIRE(later);
  CHECK(later->message.find("rule 'b' adds nothing") != std::string::npos);
}

TEST_CASE("the zone without networks covers single addresses in it") {
  auto rest = with_rules(rule("line to wan", "line", "wan", "[web]") +
                         rule("plc to cloud", "plc", "cloud", "[tcp/443]"));
  CHECK(only(rest, "shadowed"));
}

TEST_CASE("a rule whose sides share no address family never matches") {
  auto mismatch = with_rules(rule("v6 to scada", "v6only", "scada", "[web]"));
  CHECK(only(mismatch, "never-matches"));
  auto fine = with_rules(rule("hmi to scada", "hmi", "scada", "[web]"));
  CHECK_FALSE(fine.diagnostics.has_code("never-matches"));
}

TEST_CASE("W-2 does not depend on zone names") {
  // Renamed zones, no 'ot' or 'it': WAN -> any inner zone is still an error.
  std::string renamed =
      replaced(replaced(policy_text("rules:\n" + rule("wan to factory", "wan", "factory", "[any]")),
                        "  ot: {", "  factory: {"),
               "  it: {", "  office: {");
  LoadResult result = load(renamed);
  CHECK(only(result, "W-2"));
  CHECK(only(result, "roles"));  // and the policy is told its factory zone is unknown
  // WAN into the VPN zone.
  CHECK(only(with_rules(rule("wan to vendor", "wan", "vendor", "[tcp/22]")), "W-2"));
}

TEST_CASE("W-2: the factory LAN does not talk to the outside directly") {
  auto outbound = with_rules(rule("plc to the internet", "plc", "wan", "[tcp/443]"));
  const Diagnostic* d = only(outbound, "W-2");
  REQUIRE(d);
  CHECK(d->severity == Severity::Warning);
}

TEST_CASE("connections into the VPN are refused, except the gateway's own") {
  auto into = with_rules(rule("scada calls the vendor", "scada", "vendor", "[tcp/22]"));
  const Diagnostic* d = only(into, "vpn-destination");
  REQUIRE(d);
  CHECK(d->severity == Severity::Error);
  auto gateway =
      with_rules(rule("gateway pings the vendor", "gateway", "vendor", "[icmp/echo-request]"));
  CHECK_FALSE(gateway.diagnostics.has_code("vpn-destination"));
}
