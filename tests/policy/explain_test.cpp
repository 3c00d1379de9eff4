#include "policy/explain.hpp"

#include <fstream>
#include <iterator>

#include <doctest/doctest.h>

#include "policy_fixture.hpp"

using namespace sekisho::policy;
using namespace sekisho::policy::testing;
using namespace std::chrono;

namespace {

struct Explainer {
  explicit Explainer(const std::string& text) : result(load(text)) {
    REQUIRE_MESSAGE(result.policy, dump(result.diagnostics));
    resolver.emplace(*result.policy);
    zone = date::locate_zone(result.policy->timezone);
  }

  Verdict run(const char* from, const char* to, Proto proto, int port_or_type,
              const char* at = "2026-11-25T10:00") {
    Packet packet;
    packet.from = endpoint(from);
    packet.to = endpoint(to);
    packet.proto = proto;
    if (proto == Proto::Tcp || proto == Proto::Udp) {
      packet.port = static_cast<std::uint16_t>(port_or_type);
    } else {
      packet.icmp_type = port_or_type;
    }
    std::string error;
    auto instant = parse_instant(at, *zone, error);
    REQUIRE_MESSAGE(instant, error);
    return explain(*resolver, *zone, packet, *instant);
  }

  Endpoint endpoint(const char* text) {
    if (std::string_view(text) == "gateway") {
      return Endpoint{true, {}};
    }
    auto address = parse_ip(text);
    REQUIRE(address);
    return resolver->endpoint_for(*address);
  }

  LoadResult result;
  std::optional<Resolver> resolver;
  const date::time_zone* zone = nullptr;
};

std::string factory_line() {
  std::ifstream in(SEKISHO_SOURCE_DIR "/configs/factory-line.yaml");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("explain the factory line") {
  Explainer e(factory_line());
  // historian (10.20.1.5) polls plc-1 over Modbus.
  auto modbus = e.run("10.20.1.5", "192.168.10.21", Proto::Tcp, 502);
  CHECK(modbus.accept);
  CHECK(modbus.rule == "historian polls the line");
  CHECK(modbus.pos.line == 53);
  CHECK_FALSE(modbus.schedule);
  // Not the other way round.
  CHECK_FALSE(e.run("192.168.10.21", "10.20.1.5", Proto::Tcp, 502).accept);
  // A port no rule names.
  auto ssh = e.run("10.20.1.5", "192.168.10.21", Proto::Tcp, 22);
  CHECK_FALSE(ssh.accept);
  CHECK(ssh.rule.empty());
  // Any IT address may ping any OT address; only ping.
  CHECK(e.run("10.20.99.1", "192.168.10.200", Proto::Icmp, 8).accept);
  CHECK_FALSE(e.run("10.20.99.1", "192.168.10.200", Proto::Icmp, 0).accept);
  // NTP from the controllers (a group) to ntp-it.
  CHECK(e.run("192.168.10.31", "10.20.0.1", Proto::Udp, 123).accept);
  CHECK_FALSE(e.run("192.168.10.99", "10.20.0.1", Proto::Udp, 123).accept);
}

TEST_CASE("explain scheduled rules in the policy's time zone") {
  Explainer e(factory_line());
  // MES reads the HMI during operating hours: mon-fri 07:30-20:00, sat 08:00-12:00 JST.
  auto open = e.run("10.20.1.9", "192.168.10.31", Proto::Tcp, 4840, "2026-11-25T10:00");
  CHECK(open.accept);
  CHECK(open.schedule == "operating-hours");
  CHECK(open.schedule_open == true);
  auto night = e.run("10.20.1.9", "192.168.10.31", Proto::Tcp, 4840, "2026-11-25T20:00");
  CHECK_FALSE(night.accept);
  CHECK(night.rule == "MES reads the HMI during shifts");
  CHECK(night.schedule_open == false);
  // The same instant given in UTC: 01:00Z is 10:00 in Tokyo.
  CHECK(e.run("10.20.1.9", "192.168.10.31", Proto::Tcp, 4840, "2026-11-25T01:00Z").accept);
  CHECK_FALSE(e.run("10.20.1.9", "192.168.10.31", Proto::Tcp, 4840, "2026-11-25T12:00Z").accept);
  // Closed over New Year.
  CHECK_FALSE(e.run("10.20.1.9", "192.168.10.31", Proto::Tcp, 4840, "2026-12-30T10:00").accept);
  CHECK(e.run("10.20.1.9", "192.168.10.31", Proto::Tcp, 4840, "2027-01-04T10:00").accept);
}

TEST_CASE("explain a night shift across midnight and a DST change") {
  std::string text = policy_text(R"(rules:
  - name: night backup
    from: scada
    to: plc
    services: [modbus]
    schedule: night
)",
                                 "schedules:\n  night:\n    weekly: [\"sat 22:00-06:00\"]\n");
  Explainer e(text);  // Europe/Berlin; DST starts 2026-03-29 02:00 -> 03:00
  CHECK(e.run("198.18.1.5", "192.0.2.10", Proto::Tcp, 502, "2026-03-28T23:00").accept);
  CHECK(e.run("198.18.1.5", "192.0.2.10", Proto::Tcp, 502, "2026-03-29T05:59").accept);
  CHECK_FALSE(e.run("198.18.1.5", "192.0.2.10", Proto::Tcp, 502, "2026-03-29T06:00").accept);
  // 04:30Z is 06:30 CEST (closed); the same UTC time a week earlier was 05:30 CET (open).
  CHECK_FALSE(e.run("198.18.1.5", "192.0.2.10", Proto::Tcp, 502, "2026-03-29T04:30Z").accept);
  CHECK(e.run("198.18.1.5", "192.0.2.10", Proto::Tcp, 502, "2026-03-22T04:30Z").accept);
}

TEST_CASE("explain implicit gateway services") {
  Explainer e(factory_line());
  auto wireguard = e.run("198.51.100.7", "gateway", Proto::Udp, 51820);
  CHECK(wireguard.accept);
  CHECK(wireguard.implicit);
  // Only from the WAN.
  CHECK_FALSE(e.run("10.20.1.5", "gateway", Proto::Udp, 51820).accept);
  // The local broker: from OT to the gateway's OT address.
  CHECK(e.run("192.168.10.21", "192.168.10.1", Proto::Tcp, 1883).accept);
  CHECK_FALSE(e.run("10.20.1.5", "192.168.10.1", Proto::Tcp, 1883).accept);
  // The gateway's own connection to the cloud broker's literal addresses.
  CHECK(e.run("gateway", "203.0.113.11", Proto::Tcp, 8883).accept);
  CHECK_FALSE(e.run("gateway", "203.0.113.12", Proto::Tcp, 8883).accept);
}

TEST_CASE("explain: the VPN reaches nothing by itself") {
  Explainer e(factory_line());
  auto vendor = e.run("172.30.0.2", "192.168.10.31", Proto::Tcp, 5900);
  CHECK_FALSE(vendor.accept);
  CHECK(vendor.reason.find("jump sessions") != std::string::npos);
  CHECK_FALSE(e.run("172.30.0.2", "172.30.0.1", Proto::Tcp, 22).accept);
}

TEST_CASE("explain: different families never match") {
  Explainer e(policy_text());
  auto verdict = e.run("198.18.1.5", "2001:db8:1::20", Proto::Tcp, 502);
  CHECK_FALSE(verdict.accept);
}

TEST_CASE("parse_instant") {
  const date::time_zone& berlin = *date::locate_zone("Europe/Berlin");
  std::string error;
  auto winter = parse_instant("2026-01-15T12:00", berlin, error);
  REQUIRE(winter);
  CHECK(*winter == date::sys_days{date::year{2026} / 1 / 15} + hours{11});
  CHECK(parse_instant("2026-01-15T12:00:30Z", berlin, error) ==
        date::sys_days{date::year{2026} / 1 / 15} + hours{12} + seconds{30});
  CHECK(parse_instant("2026-01-15T12:00+09:00", berlin, error) ==
        date::sys_days{date::year{2026} / 1 / 15} + hours{3});
  CHECK(parse_instant("2026-01-15T12:00-05:30", berlin, error) ==
        date::sys_days{date::year{2026} / 1 / 15} + hours{17} + minutes{30});
  // The clocks skip 02:30 on 2026-03-29 in Berlin.
  CHECK_FALSE(parse_instant("2026-03-29T02:30", berlin, error));
  CHECK(error.find("daylight") != std::string::npos);
  // 02:30 happens twice on 2026-10-25: the first (CEST, UTC+2) is meant.
  CHECK(parse_instant("2026-10-25T02:30", berlin, error) ==
        date::sys_days{date::year{2026} / 10 / 25} + minutes{30});
  CHECK_FALSE(parse_instant("2026-01-15 12:00", berlin, error));
  CHECK_FALSE(parse_instant("2026-01-15T24:00", berlin, error));
  CHECK_FALSE(parse_instant("2026-01-15T12:00+9", berlin, error));
  CHECK_FALSE(parse_instant("2026-02-30T12:00", berlin, error));
}

TEST_CASE("explain: an address in no zone reaches nothing") {
  // Without a catch-all zone, 203.0.113.10 (the cloud host) is in no zone.
  Explainer e(replaced(policy_text(R"(rules:
  - name: scada to cloud
    from: scada
    to: cloud
    services: [tcp/443]
)"),
                       "wan: { interfaces: [wan0] }",
                       "wan: { interfaces: [wan0], networks: [198.51.100.0/24] }"));
  auto verdict = e.run("198.18.1.5", "203.0.113.10", Proto::Tcp, 443);
  CHECK_FALSE(verdict.accept);
  CHECK(verdict.reason.find("no zone") != std::string::npos);
}
