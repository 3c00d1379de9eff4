#include "policy/service.hpp"

#include <doctest/doctest.h>

using namespace sekisho::policy;

TEST_CASE("service items") {
  std::string error;
  auto modbus = parse_service_item("tcp/502", error);
  REQUIRE(modbus);
  CHECK(modbus->proto == Proto::Tcp);
  CHECK(modbus->port_lo == 502);
  CHECK(modbus->port_hi == 502);
  auto range = parse_service_item("udp/5000-5010", error);
  REQUIRE(range);
  CHECK(range->port_hi == 5010);
  CHECK(range->to_string() == "udp/5000-5010");
  auto ping = parse_service_item("icmp/echo-request", error);
  REQUIRE(ping);
  CHECK(ping->icmp_type == 8);
  CHECK(parse_service_item("icmpv6/echo-request", error)->icmp_type == 128);
  CHECK(parse_service_item("icmp/3", error)->to_string() == "icmp/destination-unreachable");
  CHECK(parse_service_item("any", error)->proto == Proto::Any);
}

TEST_CASE("bad service items say why") {
  std::string error;
  CHECK_FALSE(parse_service_item("tcp/0", error));
  CHECK_FALSE(parse_service_item("tcp/65536", error));
  CHECK_FALSE(parse_service_item("tcp/600-500", error));
  CHECK(error.find("backwards") != std::string::npos);
  CHECK_FALSE(parse_service_item("sctp/1", error));
  CHECK(error.find("unknown protocol") != std::string::npos);
  CHECK_FALSE(parse_service_item("icmp/echo", error));
  CHECK_FALSE(parse_service_item("icmp/256", error));
  CHECK_FALSE(parse_service_item("tcp", error));
  CHECK_FALSE(parse_service_item("tcp/", error));
  CHECK_FALSE(parse_service_item("tcp/80-", error));
  CHECK_FALSE(parse_service_item("tcp/+80", error));
}

TEST_CASE("an item lies within another") {
  std::string e;
  auto item = [&](const char* text) { return *parse_service_item(text, e); };
  CHECK(item("tcp/502").within(item("tcp/1-1024")));
  CHECK_FALSE(item("tcp/1-1025").within(item("tcp/1-1024")));
  CHECK_FALSE(item("udp/502").within(item("tcp/502")));
  CHECK(item("udp/502").within(item("any")));
  CHECK_FALSE(item("any").within(item("tcp/1-65535")));
  CHECK(item("icmp/echo-request").within(item("icmp/8")));
  CHECK_FALSE(item("icmp/echo-reply").within(item("icmp/8")));
}
