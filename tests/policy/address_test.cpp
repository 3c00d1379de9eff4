#include "policy/address.hpp"

#include <doctest/doctest.h>

using namespace sekisho::policy;

TEST_CASE("IPv4 and IPv6 addresses parse strictly") {
  CHECK(parse_ip("192.0.2.1"));
  CHECK(parse_ip("2001:db8::1"));
  CHECK(parse_ip("2001:db8::1")->family == Family::V6);
  CHECK_FALSE(parse_ip("192.0.2.256"));
  CHECK_FALSE(parse_ip("192.0.2"));
  CHECK_FALSE(parse_ip("010.0.2.1"));
  CHECK_FALSE(parse_ip("192.0.2.1/32"));
  CHECK_FALSE(parse_ip(""));
  CHECK_FALSE(parse_ip("plc-1"));
  CHECK(parse_ip("192.0.2.1")->to_string() == "192.0.2.1");
}

TEST_CASE("a prefix must not have host bits set") {
  std::string error;
  CHECK(parse_cidr("192.0.2.0/24", &error));
  auto bad = parse_cidr("192.0.2.5/24", &error);
  CHECK_FALSE(bad);
  CHECK(error.find("192.0.2.0/24") != std::string::npos);
  CHECK_FALSE(parse_cidr("192.0.2.0/33", &error));
  CHECK_FALSE(parse_cidr("192.0.2.0/", &error));
  CHECK_FALSE(parse_cidr("192.0.2.0/024", &error));
  CHECK(parse_cidr("2001:db8::/32", &error)->prefix == 32);
  CHECK(parse_cidr("192.0.2.7", &error)->prefix == 32);
}

TEST_CASE("prefix containment") {
  auto net = *parse_cidr("192.0.2.0/25");
  CHECK(net.contains(*parse_ip("192.0.2.127")));
  CHECK_FALSE(net.contains(*parse_ip("192.0.2.128")));
  CHECK_FALSE(net.contains(*parse_ip("2001:db8::1")));
  CHECK(net.contains(*parse_cidr("192.0.2.64/26")));
  CHECK_FALSE(net.contains(*parse_cidr("192.0.2.0/24")));
  auto v6 = *parse_cidr("2001:db8:1::/64");
  CHECK(v6.contains(*parse_ip("2001:db8:1::20")));
  CHECK_FALSE(v6.contains(*parse_ip("2001:db8:2::20")));
  CHECK(parse_cidr("0.0.0.0/0")->contains(*parse_ip("203.0.113.1")));
}

TEST_CASE("interface addresses keep host bits") {
  auto address = parse_interface_address("198.18.0.1/24");
  REQUIRE(address);
  CHECK(address->address.to_string() == "198.18.0.1");
  CHECK(address->network().to_string() == "198.18.0.0/24");
}

TEST_CASE("MAC addresses") {
  std::string error;
  auto mac = parse_mac("00:1D:9c:c8:12:01", &error);
  REQUIRE(mac);
  CHECK(mac->to_string() == "00:1d:9c:c8:12:01");
  CHECK_FALSE(parse_mac("00:1d:9c:c8:12", &error));
  CHECK_FALSE(parse_mac("00-1d-9c-c8-12-01", &error));
  CHECK_FALSE(parse_mac("00:1d:9c:c8:12:0g", &error));
  CHECK_FALSE(parse_mac("ff:ff:ff:ff:ff:ff", &error));
  CHECK(error.find("multicast") != std::string::npos);
  CHECK_FALSE(parse_mac("00:00:00:00:00:00", &error));
}
