// What a session grants, from a policy loaded from YAML text: only paired peer and target,
// only TCP and UDP, and as map elements exactly the peer's addresses times the host's
// addresses times the services, one family per map.
#include "daemon/sessions/grant.hpp"

#include <algorithm>
#include <set>

#include <doctest/doctest.h>

#include "tests/sessions/session_fixture.hpp"

using namespace sekisho;
using namespace sekisho::sessions;
using sekisho::sessions::testing::grant_of;
using sekisho::sessions::testing::maintenance_policy;

namespace {

policy::IpAddress ip(const char* text) {
  auto address = policy::parse_ip(text);
  REQUIRE_MESSAGE(address, text);
  return *address;
}

std::optional<Grant> try_grant(const std::string& peer, const std::string& target,
                               std::string& error) {
  return grant_for(maintenance_policy(), peer, target, error);
}

ir::Value bytes_value(std::initializer_list<std::uint8_t> bytes) {
  ir::Value value;
  value.size = static_cast<std::uint8_t>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), value.bytes.begin());
  return value;
}

}  // namespace

TEST_CASE("a paired peer and target give the peer's and the host's addresses and services") {
  Grant grant = grant_of("vendor", "hmi-screen");
  CHECK(grant.peer == "vendor");
  CHECK(grant.peer_public_key == "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=");
  CHECK(grant.peer_addresses == std::vector{ip("198.19.0.2")});
  CHECK(grant.target == "hmi-screen");
  CHECK(grant.host == "hmi");
  CHECK(grant.target_addresses == std::vector{ip("192.0.2.20"), ip("2001:db8:1::20")});
  // The named service "web" is expanded; sorted, and tcp/443 (written twice) once.
  CHECK(service_texts(grant) == std::vector<std::string>{"tcp/80", "tcp/443", "tcp/5900"});

  Grant six = grant_of("vendor6", "hmi-screen");
  CHECK(six.peer_addresses == std::vector{ip("198.19.0.3"), ip("2001:db8:99::3")});
  CHECK(six.services == grant.services);
}

TEST_CASE("peer and target that exist but are not paired are refused, naming both") {
  std::string error;
  CHECK_FALSE(try_grant("vendor6", "plc-program", error));
  CHECK(error.find("'vendor6'") != std::string::npos);
  CHECK(error.find("'plc-program'") != std::string::npos);
  CHECK(error.find("pair") != std::string::npos);
}

TEST_CASE("an unknown peer or target is refused, naming it") {
  std::string error;
  CHECK_FALSE(try_grant("nobody", "hmi-screen", error));
  CHECK(error.find("peer 'nobody'") != std::string::npos);
  error.clear();
  CHECK_FALSE(try_grant("vendor", "nothing", error));
  CHECK(error.find("target 'nothing'") != std::string::npos);
  error.clear();
  // A host is not a target, even when its name is one's host.
  CHECK_FALSE(try_grant("vendor", "hmi", error));
  CHECK(error.find("'hmi'") != std::string::npos);
}

TEST_CASE("a policy without remote_maintenance grants nothing") {
  policy::LoadResult loaded = policy::testing::load(policy::testing::policy_text());
  REQUIRE(loaded.policy);
  std::string error;
  CHECK_FALSE(grant_for(*loaded.policy, "vendor", "hmi-screen", error));
  CHECK(error.find("remote_maintenance") != std::string::npos);
}

TEST_CASE("a target with only ICMP cannot be carried by a session; ICMP beside TCP is dropped") {
  std::string error;
  CHECK_FALSE(try_grant("vendor", "hmi-ping", error));
  CHECK(error.find("'hmi-ping'") != std::string::npos);
  CHECK(error.find("TCP or UDP") != std::string::npos);

  Grant plc = grant_of("vendor", "plc-program");
  CHECK(service_texts(plc) == std::vector<std::string>{"tcp/502", "udp/5000-5010"});
  for (const policy::ServiceItem& item : plc.services) {
    CHECK((item.proto == policy::Proto::Tcp || item.proto == policy::Proto::Udp));
  }
}

TEST_CASE("'any' is every TCP and every UDP port, and nothing else") {
  Grant all = grant_of("vendor", "hmi-all");
  REQUIRE(all.services.size() == 2);
  CHECK(all.services[0].proto == policy::Proto::Tcp);
  CHECK(all.services[0].port_lo == 1);
  CHECK(all.services[0].port_hi == 65535);
  CHECK(all.services[1].proto == policy::Proto::Udp);
  CHECK(all.services[1].port_lo == 1);
  CHECK(all.services[1].port_hi == 65535);
}

TEST_CASE("elements: peer addresses times host addresses times services, one family each") {
  // vendor6 has one address per family, hmi one per family, hmi-screen three services.
  Grant grant = grant_of("vendor6", "hmi-screen");
  for (policy::Family family : {policy::Family::V4, policy::Family::V6}) {
    CAPTURE(static_cast<int>(family));
    const std::size_t size = family == policy::Family::V4 ? 4 : 16;
    std::vector<ir::Element> elements = grant_elements(grant, family, 7, 60000);
    REQUIRE(elements.size() == 3);
    std::set<std::uint64_t> ports;
    for (const ir::Element& element : elements) {
      REQUIRE(element.key.size() == 4);
      CHECK(element.key[0].single());
      CHECK(element.key[0].lo.size == size);
      CHECK(element.key[1].single());
      CHECK(element.key[1].lo.size == size);
      CHECK(element.key[2].lo == ir::value_of_number(6, 1));
      ports.insert(element.key[3].lo.bytes[0] * 256u + element.key[3].lo.bytes[1]);
    }
    CHECK(ports == std::set<std::uint64_t>{80, 443, 5900});
  }

  // Two peer addresses of one family double the elements; the other family is unchanged.
  Grant doubled = grant;
  doubled.peer_addresses.push_back(ip("198.19.0.4"));
  CHECK(grant_elements(doubled, policy::Family::V4, 7, 1).size() == 6);
  CHECK(grant_elements(doubled, policy::Family::V6, 7, 1).size() == 3);
  doubled.target_addresses.push_back(ip("192.0.2.21"));
  CHECK(grant_elements(doubled, policy::Family::V4, 7, 1).size() == 12);

  // A peer with only IPv4 reaches only the host's IPv4 address: no IPv6 elements at all.
  Grant v4only = grant_of("vendor", "hmi-screen");
  CHECK(grant_elements(v4only, policy::Family::V4, 7, 1).size() == 3);
  CHECK(grant_elements(v4only, policy::Family::V6, 7, 1).empty());
}

TEST_CASE("an element's key bytes, data (the mark) and timeout") {
  Grant grant = grant_of("vendor", "plc-program");
  std::vector<ir::Element> elements =
      grant_elements(grant, policy::Family::V4, 0x01020304u, 123456);
  REQUIRE(elements.size() == 2);
  const ir::Element& modbus = elements[0];
  REQUIRE(modbus.key.size() == 4);
  CHECK(modbus.key[0].lo == bytes_value({198, 19, 0, 2}));
  CHECK(modbus.key[0].hi == modbus.key[0].lo);
  CHECK(modbus.key[1].lo == bytes_value({192, 0, 2, 10}));
  CHECK(modbus.key[1].hi == modbus.key[1].lo);
  CHECK(modbus.key[2].lo == bytes_value({6}));
  CHECK(modbus.key[2].hi == bytes_value({6}));
  CHECK(modbus.key[3].lo == bytes_value({0x01, 0xf6}));  // 502
  CHECK(modbus.key[3].hi == bytes_value({0x01, 0xf6}));
  REQUIRE(modbus.data);
  CHECK(*modbus.data == bytes_value({0x01, 0x02, 0x03, 0x04}));
  CHECK(modbus.timeout_ms == 123456);
  CHECK_FALSE(modbus.verdict);

  const ir::Element& range = elements[1];
  CHECK(range.key[2].lo == bytes_value({17}));
  CHECK(range.key[3].lo == bytes_value({0x13, 0x88}));  // 5000
  CHECK(range.key[3].hi == bytes_value({0x13, 0x92}));  // 5010
  REQUIRE(range.data);
  CHECK(*range.data == ir::value_of_number(0x01020304u, 4));
  CHECK(range.timeout_ms == 123456);

  // IPv6: 16-byte addresses.
  Grant six = grant_of("vendor6", "hmi-screen");
  std::vector<ir::Element> v6 = grant_elements(six, policy::Family::V6, 9, 1000);
  REQUIRE_FALSE(v6.empty());
  const policy::IpAddress peer = ip("2001:db8:99::3");
  const policy::IpAddress host = ip("2001:db8:1::20");
  CHECK(v6[0].key[0].lo == ir::value_of_bytes(peer.bytes.data(), 16));
  CHECK(v6[0].key[1].lo == ir::value_of_bytes(host.bytes.data(), 16));
  CHECK(*v6[0].data == bytes_value({0, 0, 0, 9}));
}

TEST_CASE("overlaps: one peer, one host and a shared port") {
  const Grant screen = grant_of("vendor", "hmi-screen");  // hmi tcp/80, 443, 5900
  const Grant web = grant_of("vendor", "hmi-web");        // hmi tcp/443
  const Grant alt = grant_of("vendor", "hmi-vnc-alt");    // hmi tcp/5901-5910
  const Grant all = grant_of("vendor", "hmi-all");        // hmi tcp+udp 1-65535
  const Grant plc = grant_of("vendor", "plc-screen");     // plc tcp/5900
  const Grant other_peer = grant_of("vendor6", "hmi-screen");

  CHECK(overlaps(screen, screen));
  CHECK(overlaps(screen, web));
  CHECK(overlaps(web, screen));
  CHECK(overlaps(screen, all));
  CHECK(overlaps(alt, all));
  CHECK_FALSE(overlaps(screen, alt));  // 5900 and 5901-5910: adjacent, not shared
  CHECK_FALSE(overlaps(alt, screen));
  CHECK_FALSE(overlaps(web, alt));
  CHECK_FALSE(overlaps(screen, plc));         // the same port on another host
  CHECK_FALSE(overlaps(screen, other_peer));  // another peer's addresses

  // The same port range, but TCP against UDP.
  Grant udp = alt;
  for (policy::ServiceItem& item : udp.services) {
    item.proto = policy::Proto::Udp;
  }
  CHECK_FALSE(overlaps(alt, udp));
  // Port ranges that share only their last and first port.
  Grant edge = alt;
  edge.services = {{policy::Proto::Tcp, 5910, 5920, -1}};
  CHECK(overlaps(alt, edge));
  edge.services = {{policy::Proto::Tcp, 5911, 5920, -1}};
  CHECK_FALSE(overlaps(alt, edge));
  // Sharing one of several addresses is enough.
  Grant shares = other_peer;
  shares.peer_addresses = {ip("198.19.0.99"), ip("198.19.0.2")};
  CHECK(overlaps(screen, shares));
}
