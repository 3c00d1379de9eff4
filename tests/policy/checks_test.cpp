// Each check of policy/checks.cpp: the diagnostic appears, with its code, at the line that
// caused it, and the valid base policy has none of them (so removing a check fails here).

#include <doctest/doctest.h>

#include "policy/topic_filter.hpp"
#include "policy_fixture.hpp"

using namespace sekisho::policy;
using namespace sekisho::policy::testing;

namespace {

// Loads `text` and requires a diagnostic with `code` of `severity` on a line containing
// `snippet`.
void expect(const std::string& text, std::string_view code, std::string_view snippet,
            Severity severity = Severity::Error) {
  LoadResult result = load(text);
  bool found = false;
  for (const Diagnostic& d : result.diagnostics.items()) {
    if (d.code == code && d.severity == severity &&
        line_text(text, d.pos.line).find(snippet) != std::string::npos) {
      CHECK(d.pos.column > 0);
      CHECK(d.file == "test.yaml");
      found = true;
    }
  }
  CHECK_MESSAGE(found, "expected [" << code << "] at a line with '" << snippet << "', got:\n"
                                    << dump(result.diagnostics));
  if (severity == Severity::Error) {
    CHECK_FALSE(result.policy);
  }
}

}  // namespace

TEST_CASE("the base policy is valid without warnings") {
  LoadResult result = load(policy_text());
  CHECK_MESSAGE(result.diagnostics.items().empty(), dump(result.diagnostics));
  REQUIRE(result.policy);
  CHECK(result.policy->hosts.size() == 6);
  const Zone* maint = result.policy->find_zone("maint");
  REQUIRE(maint);
  CHECK(maint->role == ZoneRole::Vpn);
  REQUIRE(maint->networks.size() == 1);
  CHECK(maint->networks[0].to_string() == "198.19.0.0/24");
  CHECK(maint->interfaces.at(0).name == "wg0");
}

TEST_CASE("version") {
  expect(std::string("version: 2\n") + policy_text().substr(11), "range", "version: 2");
  LoadResult missing = load(policy_text().substr(11));
  CHECK(missing.diagnostics.has_code("missing-key"));
}

TEST_CASE("unknown keys, with a did-you-mean") {
  std::string text = policy_text({}, "wan:\n  interface: wan0\n  nta: masquerade\n");
  expect(text, "unknown-key", "nta: masquerade");
  auto d = find_code(load(text).diagnostics, "unknown-key");
  REQUIRE(d);
  CHECK(d->hint.find("'nat'") != std::string::npos);
  expect(policy_text({}, "colour: blue\n"), "unknown-key", "colour: blue");
}

TEST_CASE("duplicate keys") {
  expect(policy_text({}, "wan:\n  interface: wan0\n  interface: it0\n"), "dup-key",
         "interface: it0");
}

TEST_CASE("wrong types") {
  expect(policy_text({}, "wan: wan0\n"), "type", "wan: wan0");
  expect(policy_text(R"(rules:
  - name: r
    from: scada
    to: plc
    services: [modbus]
    log: yes
)"),
         "type", "log: yes");
  expect(policy_text(R"(rules:
  - name: r
    from: {host: scada}
    to: plc
    services: [modbus]
)"),
         "type", "from: {host: scada}");
}

TEST_CASE("a quoted number is not a number") {
  std::string text = replaced(policy_text(), "listen_port: 51820", "listen_port: \"51820\"");
  expect(text, "type", "listen_port: \"51820\"");
}

TEST_CASE("bad addresses, networks, MACs, ports and ICMP types") {
  std::string hosts = replaced(policy_text(), "192.0.2.10 }", "192.0.2.300 }");
  expect(hosts, "bad-address", "plc: { address: 192.0.2.300 }");

  std::string networks = replaced(policy_text(), "198.18.0.0/16", "198.18.0.1/16");
  expect(networks, "bad-network", "198.18.0.1/16");

  std::string mac = replaced(policy_text(), "address: 192.0.2.10 }",
                             "address: 192.0.2.10, mac: \"00:1d:9c:c8:12\" }");
  expect(mac, "bad-mac", "00:1d:9c:c8:12");

  std::string ports = replaced(policy_text(), "modbus: tcp/502", "modbus: tcp/70000");
  expect(ports, "bad-service", "tcp/70000");

  std::string range = replaced(policy_text(), "modbus: tcp/502", "modbus: tcp/600-500");
  expect(range, "bad-service", "tcp/600-500");

  std::string icmp = replaced(policy_text(), "modbus: tcp/502", "modbus: icmp/echo-requets");
  expect(icmp, "bad-service", "icmp/echo-requets");
}

TEST_CASE("undefined names, with a did-you-mean") {
  std::string text = policy_text(R"(rules:
  - name: r
    from: scdaa
    to: plc
    services: [modbuss]
)");
  expect(text, "undefined", "from: scdaa");
  expect(text, "undefined", "services: [modbuss]");
  auto d = find_code(load(text).diagnostics, "undefined");
  REQUIRE(d);
  CHECK(d->hint.find("'scada'") != std::string::npos);
  expect(policy_text({}, "wan: { interface: wan0, up: shifts }\n"), "undefined", "up: shifts");
  expect(policy_text(R"(rules:
  - name: r
    from: scada
    to: plc
    services: [modbus]
    schedule: nope
)"),
         "undefined", "schedule: nope");
}

TEST_CASE("duplicate names across zones, hosts, groups and peers") {
  std::string text = replaced(policy_text(), "  line: [plc, hmi]", "  plc: [hmi]");
  expect(text, "dup-name", "plc: [hmi]");
  expect(policy_text(R"(rules:
  - name: same
    from: scada
    to: plc
    services: [modbus]
  - name: same
    from: scada
    to: hmi
    services: [modbus]
)"),
         "dup-name", "- name: same");
  std::string reserved = replaced(policy_text(), "  line: [plc, hmi]", "  gateway: [plc]");
  expect(reserved, "reserved-name", "gateway: [plc]");
}

TEST_CASE("an interface in two zones") {
  std::string text = replaced(policy_text(), "interfaces: [it0]", "interfaces: [lan0]");
  expect(text, "dup-interface", "interfaces: [lan0]");
}

TEST_CASE("overlapping zones") {
  std::string text = replaced(policy_text(), "198.18.0.0/16", "192.0.0.0/16");
  expect(text, "zone-overlap", "ot: {");
}

TEST_CASE("a host outside every zone is a warning") {
  // Without a zone that holds "the rest", 203.0.113.10 is in no zone.
  std::string text = replaced(policy_text(), "wan: { interfaces: [wan0] }",
                              "wan: { interfaces: [wan0], networks: [198.51.100.0/24] }");
  expect(text, "host-outside-zones", "cloud:", Severity::Warning);
  CHECK(load(text).policy);  // a warning, not an error
}

TEST_CASE("groups: members, cycles") {
  std::string zone_member = replaced(policy_text(), "line: [plc, hmi]", "line: [plc, ot]");
  expect(zone_member, "bad-member", "line: [plc, ot]");
  std::string cycle =
      replaced(policy_text(), "line: [plc, hmi]", "line: [plc, cell]\n  cell: [line]");
  expect(cycle, "cycle", "cell: [line]");
}

TEST_CASE("schedule syntax and impossible times") {
  auto with = [](const char* window) {
    return policy_text({}, std::string("schedules:\n  shift:\n    weekly: [\"") + window + "\"]\n");
  };
  expect(with("mon-fri 25:00-26:00"), "bad-schedule", "mon-fri 25:00-26:00");
  expect(with("mon-fri 07:61-08:00"), "bad-schedule", "07:61");
  expect(with("mon-frx 07:00-08:00"), "bad-schedule", "mon-frx");
  expect(with("mon 08:00-08:00"), "bad-schedule", "mon 08:00-08:00");
  // Across midnight is fine.
  LoadResult night = load(with("fri 22:00-06:00"));
  CHECK_MESSAGE(night.diagnostics.items().empty(), dump(night.diagnostics));
  expect(policy_text({},
                     "schedules:\n  shift:\n    weekly: [\"mon 08:00-09:00\"]\n    closed: "
                     "[\"2026-02-30\"]\n"),
         "bad-schedule", "2026-02-30");
}

TEST_CASE("time zone") {
  std::string text = replaced(policy_text(), "Europe/Berlin", "Europe/Berlinn");
  expect(text, "bad-timezone", "Europe/Berlinn");
}

TEST_CASE("VPN sections") {
  std::string key =
      replaced(policy_text(), "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "not-a-key");
  expect(key, "bad-key", "not-a-key");
  std::string outside = replaced(policy_text(), "address: 198.19.0.2", "address: 198.19.1.2");
  expect(outside, "bad-address", "vendor:");
  std::string no_zone = replaced(policy_text(), "  maint: { vpn: maint }\n", "");
  expect(no_zone, "missing-zone", "maint:");
  std::string mode = replaced(policy_text(), "/etc/sekisho/keys/wg0.key", "keys/wg0.key");
  expect(mode, "bad-path", "keys/wg0.key");
}

TEST_CASE("WAN section") {
  expect(policy_text({}, "wan: { interface: wan9 }\n"), "undefined", "wan9");
  expect(policy_text({}, "wan: { interface: lan0 }\n"), "W-2", "lan0");
  expect(policy_text({}, "wan: { interface: wan0, power_hook: /usr/bin/modem }\n"), "bad-path",
         "power_hook");
  expect(policy_text({}, "wan: { interface: wan0, nat: snat }\n"), "bad-value", "nat: snat");
}

TEST_CASE("cloud section: C-1 and topic filters") {
  const std::string cloud = R"(cloud:
  mqtt:
    broker: %BROKER%
    tls: { ca_file: /etc/sekisho/cloud/ca.pem, cert_file: /etc/sekisho/c.pem, key_file: /etc/sekisho/c.key }
    local_broker: 192.0.2.1:1883
    publishers: [line]
    uplink: ["%UP%"]
    downlink: ["line1/recipes/set"]
)";
  auto with = [&](std::string broker, std::string up) {
    return policy_text({}, replaced(replaced(cloud, "%BROKER%", broker), "%UP%", up));
  };
  LoadResult good = load(with("cloud", "line1/+/telemetry"));
  CHECK_MESSAGE(good.diagnostics.items().empty(), dump(good.diagnostics));
  expect(with("mqtt.example.com", "line1/#"), "C-1", "mqtt.example.com");
  expect(with("203.0.113.10", "line1/#"), "undefined", "203.0.113.10");
  expect(with("clud", "line1/#"), "undefined", "broker: clud");
  CHECK(find_code(load(with("clud", "line1/#")).diagnostics, "undefined")->hint ==
        "did you mean 'cloud'?");
  expect(with("cloud", "line1/#/x"), "bad-topic", "line1/#/x");
  expect(with("cloud", "line1/a+"), "bad-topic", "line1/a+");
  expect(with("cloud", "line1/recipes/set"), "conflict", "downlink");
}

TEST_CASE("cloud section: uplink and downlink filters that overlap") {
  const std::string cloud = R"(cloud:
  mqtt:
    broker: cloud
    tls: { ca_file: /etc/sekisho/cloud/ca.pem, cert_file: /etc/sekisho/c.pem, key_file: /etc/sekisho/c.key }
    local_broker: 192.0.2.1:1883
    publishers: [plc]
    uplink: ["line1/+/telemetry", "%UP%"]
    downlink: ["line1/recipes/set", "%DOWN%"]
)";
  auto with = [&](std::string up, std::string down) {
    return policy_text({}, replaced(replaced(cloud, "%UP%", up), "%DOWN%", down));
  };
  // Overlapping, not equal: some topic matches both, so a message could come back up.
  for (const char* up : {"line1/#", "+/recipes/+", "#", "+/+/set", "line1/recipes/set/#"}) {
    CAPTURE(up);
    expect(with(up, "line2/x"), "conflict", "downlink");
    const Diagnostic* d = find_code(load(with(up, "line2/x")).diagnostics, "conflict");
    REQUIRE(d);
    CHECK(d->message.find("'line1/recipes/set'") != std::string::npos);
    CHECK(d->message.find(std::string("'") + up + "'") != std::string::npos);
    CHECK(d->hint.find("loop") != std::string::npos);
  }
  expect(with("line2/x", "line1/telemetry/#"), "conflict", "line1/telemetry/#");
  // Disjoint: other level counts, other literals, a '$' topic against a leading wildcard.
  for (auto [up, down] :
       {std::pair{"line1/+", "line2/#"}, std::pair{"line1/recipes/set/x", "a"},
        std::pair{"$SYS/#", "+/b"}, std::pair{"line1/recipes", "line1/recipes/set/+"}}) {
    CAPTURE(up);
    LoadResult result = load(with(up, down));
    CHECK_MESSAGE(result.diagnostics.items().empty(), dump(result.diagnostics));
  }
  // An invalid filter is reported as such, not as a conflict as well.
  LoadResult invalid = load(with("line2/#/x", "line2/a/x"));
  CHECK(invalid.diagnostics.has_code("bad-topic"));
  CHECK_FALSE(invalid.diagnostics.has_code("conflict"));
  // One conflict per overlapping pair: recipes/+ against recipes/set and against
  // +/telemetry, and +/telemetry against itself.
  LoadResult three = load(with("line1/recipes/+", "line1/+/telemetry"));
  std::size_t conflicts = 0;
  for (const Diagnostic& d : three.diagnostics.items()) {
    conflicts += d.code == "conflict" ? 1 : 0;
  }
  CHECK(conflicts == 3);
  std::string no_tls = with("cloud", "a");
  no_tls.erase(no_tls.find("    tls:"), no_tls.find("    local_broker") - no_tls.find("    tls:"));
  expect(no_tls, "C-1", "mqtt:");
  std::string outside = replaced(with("cloud", "a"), "192.0.2.1:1883", "203.0.113.1:1883");
  expect(outside, "bad-address", "local_broker");
}

TEST_CASE("cloud section: publishers and what the local broker's ACL can hold") {
  const std::string cloud = R"(cloud:
  mqtt:
    broker: cloud
    tls: { ca_file: /etc/sekisho/cloud/ca.pem, cert_file: /etc/sekisho/c.pem, key_file: /etc/sekisho/c.key }
    local_broker: 192.0.2.1:1883
    publishers: [%PUB%]
    uplink: ["%UP%"]
    downlink: ["line1/recipes/set"]
)";
  auto with = [&](std::string publishers, std::string up = "line1/+/telemetry") {
    return policy_text({}, replaced(replaced(cloud, "%PUB%", publishers), "%UP%", up));
  };
  for (const char* good : {"plc", "line", "plc, line, hmi", ""}) {
    CAPTURE(good);
    LoadResult result = load(with(good));
    CHECK_MESSAGE(result.diagnostics.items().empty(), dump(result.diagnostics));
  }
  expect(with("plx"), "undefined", "publishers: [plx]");
  LoadResult typo = load(with("plx"));
  REQUIRE(find_code(typo.diagnostics, "undefined"));
  CHECK(find_code(typo.diagnostics, "undefined")->hint == "did you mean 'plc'?");
  for (const char* other : {"ot", "vendor", "gateway"}) {
    CAPTURE(other);
    expect(with(other), "bad-publisher", "publishers:");
  }
  // Outside the broker's zone: the firewall opens its port to the OT zone only.
  expect(with("scada"), "bad-publisher", "publishers: [scada]");
  LoadResult mixed = load(with("plc, scada"));
  const Diagnostic* outside = find_code(mixed.diagnostics, "bad-publisher");
  REQUIRE(outside);
  CHECK(outside->message.find("'scada'") != std::string::npos);
  CHECK(outside->message.find("zone 'ot'") != std::string::npos);
  // sekishod's own user name at the broker.
  std::string reserved =
      replaced(with("sekishod"), "  cloud: { addresses: [203.0.113.10] }",
               "  cloud: { addresses: [203.0.113.10] }\n  sekishod: { address: 192.0.2.99 }");
  expect(reserved, "reserved-name", "publishers: [sekishod]");
  const std::string prefixed = replaced(replaced(reserved, "sekishod:", "sekishod-9:"),
                                        "publishers: [sekishod]", "publishers: [sekishod-9]");
  expect(prefixed, "reserved-name", "publishers: [sekishod-9]");
  // No publishers key at all: a warning, since no device could log in.
  std::string none = with("plc");
  none.erase(none.find("    publishers:"), std::string("    publishers: [plc]\n").size());
  LoadResult without = load(none);
  REQUIRE(without.policy);
  const Diagnostic* warned = find_code(without.diagnostics, "no-publishers");
  REQUIRE(warned);
  CHECK(warned->severity == Severity::Warning);
  // A filter the broker's ACL file would split or trim.
  expect(with("plc", "line1/a\\nb"), "bad-topic", "uplink:");
  expect(with("plc", " line1/x"), "bad-topic", "uplink:");
  expect(with("plc", "line1/x "), "bad-topic", "uplink:");
  CHECK(broker_acl_filter_error("line 1/a b/+").empty());
  CHECK_FALSE(broker_acl_filter_error("a\x7f").empty());
  CHECK_FALSE(broker_acl_filter_error("a\tb").empty());
}

TEST_CASE("remote maintenance references") {
  const std::string rm = R"(remote_maintenance:
  max_duration: 4h
  targets:
    plc-screen: { host: plc, services: [web] }
  peers:
    %PEER%: [%TARGET%]
)";
  auto with = [&](std::string peer, std::string target) {
    return policy_text({}, replaced(replaced(rm, "%PEER%", peer), "%TARGET%", target));
  };
  LoadResult good = load(with("vendor", "plc-screen"));
  CHECK_MESSAGE(good.diagnostics.items().empty(), dump(good.diagnostics));
  expect(with("vendr", "plc-screen"), "undefined", "vendr");
  expect(with("vendor", "plc-scren"), "undefined", "plc-scren");
  std::string too_long =
      replaced(with("vendor", "plc-screen"), "max_duration: 4h", "max_duration: 30d");
  expect(too_long, "range", "max_duration: 30d");
}

TEST_CASE("audit retention under six months is an error (S-6)") {
  expect(policy_text({}, "audit: { retention: 90d }\n"), "S-6", "retention: 90d");
  expect(policy_text({}, "audit: { retention: 179d }\n"), "S-6", "retention: 179d");
  LoadResult shortest = load(policy_text({}, "audit: { retention: 180d }\n"));
  CHECK_MESSAGE(shortest.diagnostics.items().empty(), dump(shortest.diagnostics));
  REQUIRE(shortest.policy);
  CHECK(shortest.policy->audit.retention_seconds == 180LL * 86400);
  LoadResult good = load(policy_text({},
                                     "audit: { retention: 400d, disk_budget: 2GiB, "
                                     "checkpoint_every: 1h }\n"));
  CHECK_MESSAGE(good.diagnostics.items().empty(), dump(good.diagnostics));
  REQUIRE(good.policy);
  CHECK(good.policy->audit.disk_budget_bytes == 2ULL << 30);
}

TEST_CASE("every problem of a file in one run") {
  std::string text = policy_text(R"(rules:
  - name: a
    from: nobody
    to: plc
    services: [modbus]
  - name: b
    from: scada
    to: plc
    services: [tcp/0]
  - name: c
    from: scada
    to: plc
    services: [modbus]
    log: maybe
)",
                                 "colour: blue\n");
  LoadResult result = load(text);
  CHECK(result.diagnostics.has_code("undefined"));
  CHECK(result.diagnostics.has_code("bad-service"));
  CHECK(result.diagnostics.has_code("type"));
  CHECK(result.diagnostics.has_code("unknown-key"));
  CHECK(result.diagnostics.error_count() == 4);
}

TEST_CASE("names: syntax, and never an address") {
  expect(replaced(policy_text(), "  laptop: {", "  198.18.1.7: {"), "bad-name", "198.18.1.7: {");
  expect(replaced(policy_text(), "  laptop: {", "  -laptop: {"), "bad-name", "-laptop: {");
  expect(replaced(policy_text(), "line: [plc, hmi]", "line: [plc, \"h m i\"]"), "bad-name",
         "line: [plc,");
}

TEST_CASE("zone names become chain names") {
  expect(replaced(policy_text(), "  it: {", "  1it: {"), "bad-name", "1it: {");
  expect(replaced(policy_text(), "  it: {", "  it_to_x: {"), "bad-name", "it_to_x: {");
}

TEST_CASE("a valid key near a missing one does not hide it") {
  // 'log' is one edit from 'to': the missing 'to' must still be reported.
  expect(policy_text(R"(rules:
  - name: no destination
    from: scada
    services: [modbus]
    log: true
)"),
         "missing-key", "- name: no destination");
  // A typo is reported once, as unknown-key with a did-you-mean.
  LoadResult typo = load(policy_text(R"(rules:
  - name: typo
    from: scada
    too: plc
    services: [modbus]
)"));
  CHECK(typo.diagnostics.has_code("unknown-key"));
  CHECK_FALSE(typo.diagnostics.has_code("missing-key"));
}

TEST_CASE("empty lists name nothing") {
  expect(policy_text(R"(rules:
  - name: r
    from: []
    to: plc
    services: [modbus]
)"),
         "bad-value", "from: []");
  expect(policy_text(R"(rules:
  - name: r
    from: scada
    to: plc
    services: []
)"),
         "bad-value", "services: []");
  expect(replaced(policy_text(), "modbus: tcp/502", "modbus: []"), "bad-value", "modbus: []");
  expect(policy_text({}, "schedules:\n  s:\n    weekly: []\n"), "schedule-never-open",
         "s:", Severity::Warning);
}

TEST_CASE("every address names one thing") {
  // Two peers with one tunnel address.
  std::string peers =
      replaced(policy_text(), "address: 198.19.0.2 }",
               "address: 198.19.0.2 }\n      other: { public_key: "
               "\"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\", address: 198.19.0.2 }");
  expect(peers, "dup-address", "other:");
  // A host at the gateway's own tunnel address.
  expect(
      replaced(policy_text(), "laptop: { address: 198.18.1.6 }", "laptop: { address: 198.19.0.1 }"),
      "dup-address", "laptop:");
  // A host at a peer's address.
  expect(
      replaced(policy_text(), "laptop: { address: 198.18.1.6 }", "laptop: { address: 198.19.0.2 }"),
      "dup-address", "laptop:");
  // Twice in one host.
  const std::string twice = replaced(policy_text(), "hmi: { addresses: [192.0.2.20,",
                                     "hmi: { addresses: [192.0.2.20, 192.0.2.20,");
  expect(twice, "dup-address", "hmi:");
  CHECK(find_code(load(twice).diagnostics, "dup-address")->message.find("listed twice") !=
        std::string::npos);
}

TEST_CASE("MAC bindings: one host per MAC, and not in the catch-all zone") {
  std::string dup = replaced(policy_text(), "plc: { address: 192.0.2.10 }",
                             "plc: { address: 192.0.2.10, mac: \"00:1d:9c:c8:12:01\" }");
  dup = replaced(dup, "laptop: { address: 198.18.1.6 }",
                 "laptop: { address: 198.18.1.6, mac: \"00:1d:9c:c8:12:01\" }");
  expect(dup, "dup-mac", "laptop:", Severity::Warning);
  // A typo in a PLC's address lands it in the WAN zone.
  expect(replaced(policy_text(), "plc: { address: 192.0.2.10 }",
                  "plc: { address: 192.0.3.10, mac: \"00:1d:9c:c8:12:01\" }"),
         "host-outside-zones", "plc:", Severity::Warning);
}

TEST_CASE("one zone per address family may hold the rest") {
  std::string split = replaced(policy_text(), "wan: { interfaces: [wan0] }",
                               "wan: { interfaces: [wan0], networks: [0.0.0.0/0] }\n"
                               "  wan6: { interfaces: [wan6], role: wan, networks: [\"::/0\"] }");
  LoadResult result = load(split);
  CHECK_MESSAGE(result.policy, dump(result.diagnostics));
  CHECK_MESSAGE(result.diagnostics.items().empty(), dump(result.diagnostics));
  // A declared network wins over the rest: 192.0.2.10 stays in ot.
  std::string both = replaced(policy_text(), "wan: { interfaces: [wan0] }",
                              "wan: { interfaces: [wan0] }\n  wan2: { interfaces: [wan1] }");
  expect(both, "zone-overlap", "wan2:");
}

TEST_CASE("a rule whose services fit no address family of its sides") {
  expect(policy_text(R"(rules:
  - name: v6 ping over v4
    from: scada
    to: plc
    services: [icmpv6/echo-request]
)"),
         "never-matches", "- name: v6 ping over v4", Severity::Warning);
}

TEST_CASE("problems of the whole file point at its start") {
  LoadResult empty = load("");
  REQUIRE(!empty.diagnostics.items().empty());
  CHECK(empty.diagnostics.items()[0].pos.line == 1);
  CHECK(empty.diagnostics.items()[0].pos.column == 1);
}
