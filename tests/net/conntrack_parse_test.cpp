// daemon/net/conntrack's parser against messages written byte by byte here from the
// layout in linux/netfilter/nfnetlink_conntrack.h and the kernel's ctnetlink_fill_info /
// ctnetlink_conntrack_event (net/netfilter/nf_conntrack_netlink.c), never with
// conntrack.cpp's own code; then against every truncation and a few thousand mutations of
// them, which must never crash or read outside the message (run it under ASan/UBSan).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include "daemon/net/conntrack.hpp"
#include "tests/net/netlink_bytes.hpp"

namespace net = sekisho::net;

namespace {

using sekisho::testing::address;
using sekisho::testing::Attribute;
using sekisho::testing::be16;
using sekisho::testing::be32;
using sekisho::testing::be64;
using sekisho::testing::Bytes;
using sekisho::testing::Message;
using sekisho::testing::nest;
using sekisho::testing::u8;

Message message(std::uint8_t ctnetlink_type, std::uint16_t flags, std::uint8_t family,
                const std::vector<Attribute>& attributes) {
  return sekisho::testing::nfnetlink_message(
      static_cast<std::uint16_t>(NFNL_SUBSYS_CTNETLINK << 8 | ctnetlink_type), flags, family, 0,
      attributes);
}

// Copies into 4-byte aligned storage, as netlink buffers are, and parses `length` bytes.
bool parse(const Bytes& bytes, std::size_t length, net::Flow& flow) {
  std::vector<std::uint32_t> aligned((std::max<std::size_t>(length, 1) + 3) / 4);
  if (!bytes.empty()) {
    std::memcpy(aligned.data(), bytes.data(), std::min(length, bytes.size()));
  }
  return net::parse_flow(reinterpret_cast<const nlmsghdr*>(aligned.data()), length, flow);
}
bool parse(const Bytes& bytes, net::Flow& flow) {
  return parse(bytes, bytes.size(), flow);
}

Attribute tuple(std::uint16_t which, int family, const char* source, const char* destination,
                std::uint8_t protocol, std::uint16_t source_port, std::uint16_t destination_port) {
  const bool v4 = family == AF_INET;
  std::vector<Attribute> proto{u8(CTA_PROTO_NUM, protocol)};
  if (source_port != 0) {
    proto.push_back(be16(CTA_PROTO_SRC_PORT, source_port));
    proto.push_back(be16(CTA_PROTO_DST_PORT, destination_port));
  }
  return nest(which, {nest(CTA_TUPLE_IP,
                           {address(v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, family, source),
                            address(v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, family, destination)}),
                      nest(CTA_TUPLE_PROTO, std::move(proto))});
}

constexpr std::uint64_t kStart = 1'764'000'000'123'456'789ULL;  // 2025-11-24, in ns
constexpr std::uint64_t kStop = kStart + 90'000'000'000ULL;

// A DESTROY event of a Modbus/TCP flow in the order ctnetlink_conntrack_event writes it,
// counters above 32 bits included.
Message tcp_v4_destroy() {
  return message(
      IPCTNL_MSG_CT_DELETE, 0, AF_INET,
      {tuple(CTA_TUPLE_ORIG, AF_INET, "198.18.7.2", "192.0.2.10", IPPROTO_TCP, 40001, 502),
       tuple(CTA_TUPLE_REPLY, AF_INET, "192.0.2.10", "198.18.7.2", IPPROTO_TCP, 502, 40001),
       be32(CTA_ID, 0xdeadbeef), be32(CTA_STATUS, 0x18e),
       nest(CTA_COUNTERS_ORIG, {be64(CTA_COUNTERS_PACKETS, 12), be64(CTA_COUNTERS_BYTES, 3456)}),
       nest(CTA_COUNTERS_REPLY, {be64(CTA_COUNTERS_PACKETS, 5'000'000'000ULL),
                                 be64(CTA_COUNTERS_BYTES, 6'000'000'000'000ULL)}),
       nest(CTA_TIMESTAMP, {be64(CTA_TIMESTAMP_START, kStart), be64(CTA_TIMESTAMP_STOP, kStop)}),
       nest(CTA_PROTOINFO, {nest(CTA_PROTOINFO_TCP, {u8(CTA_PROTOINFO_TCP_STATE, 7)})}),
       be32(CTA_MARK, 0x2a)});
}

// A NEW event of a UDP flow over IPv6: no counters, no timestamps, mark 0 left out.
Message udp_v6_new() {
  return message(
      IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, AF_INET6,
      {tuple(CTA_TUPLE_ORIG, AF_INET6, "2001:db8:7::2", "2001:db8:1::10", IPPROTO_UDP, 5353, 4840),
       tuple(CTA_TUPLE_REPLY, AF_INET6, "2001:db8:1::10", "2001:db8:7::2", IPPROTO_UDP, 4840, 5353),
       be32(CTA_ID, 7), be32(CTA_STATUS, 0x8), be32(CTA_TIMEOUT, 30)});
}

// A dump entry of a flow created before accounting was on: timestamps but no counters
// (the two are separate extensions), the mark always present in dumps.
Message tcp_v4_dump_without_counters() {
  return message(
      IPCTNL_MSG_CT_NEW, NLM_F_MULTI, AF_INET,
      {tuple(CTA_TUPLE_ORIG, AF_INET, "198.18.7.3", "203.0.113.5", IPPROTO_TCP, 50000, 8883),
       tuple(CTA_TUPLE_REPLY, AF_INET, "203.0.113.5", "198.18.7.3", IPPROTO_TCP, 8883, 50000),
       be32(CTA_STATUS, 0x18e), be32(CTA_MARK, 0x2b), be32(CTA_ID, 99), be32(CTA_USE, 1),
       be32(CTA_TIMEOUT, 431999), nest(CTA_TIMESTAMP, {be64(CTA_TIMESTAMP_START, kStart)})});
}

// A flow with only its tuple set.
net::Flow between(int family, std::uint8_t protocol, const char* source, std::uint16_t source_port,
                  const char* destination, std::uint16_t destination_port) {
  net::Flow flow;
  flow.family = family;
  flow.protocol = protocol;
  flow.source = source;
  flow.source_port = source_port;
  flow.destination = destination;
  flow.destination_port = destination_port;
  return flow;
}

// Field by field, so that a test states the whole flow it expects and a failure names the
// field.
void check_flow(const net::Flow& got, const net::Flow& expected) {
  CHECK(got.id == expected.id);
  CHECK(got.mark == expected.mark);
  CHECK(got.family == expected.family);
  CHECK(got.source == expected.source);
  CHECK(got.destination == expected.destination);
  CHECK(got.protocol == expected.protocol);
  CHECK(got.source_port == expected.source_port);
  CHECK(got.destination_port == expected.destination_port);
  CHECK(got.has_counters == expected.has_counters);
  CHECK(got.packets_to_destination == expected.packets_to_destination);
  CHECK(got.bytes_to_destination == expected.bytes_to_destination);
  CHECK(got.packets_from_destination == expected.packets_from_destination);
  CHECK(got.bytes_from_destination == expected.bytes_from_destination);
  CHECK(got.start_ns == expected.start_ns);
  CHECK(got.stop_ns == expected.stop_ns);
}

std::vector<Message> fixtures() {
  return {tcp_v4_destroy(), udp_v6_new(), tcp_v4_dump_without_counters()};
}

}  // namespace

TEST_CASE("a v4 TCP DESTROY event: tuple, mark, id, 64-bit counters, timestamps") {
  net::Flow flow;
  REQUIRE(parse(tcp_v4_destroy().bytes, flow));
  net::Flow expected = between(AF_INET, IPPROTO_TCP, "198.18.7.2", 40001, "192.0.2.10", 502);
  expected.id = 0xdeadbeef;
  expected.mark = 0x2a;
  expected.has_counters = true;
  expected.packets_to_destination = 12;
  expected.bytes_to_destination = 3456;
  expected.packets_from_destination = 5'000'000'000ULL;
  expected.bytes_from_destination = 6'000'000'000'000ULL;
  expected.start_ns = kStart;
  expected.stop_ns = kStop;
  check_flow(flow, expected);
}

TEST_CASE("a v6 UDP NEW event: no counters, no timestamps, mark 0") {
  net::Flow flow;
  REQUIRE(parse(udp_v6_new().bytes, flow));
  net::Flow expected =
      between(AF_INET6, IPPROTO_UDP, "2001:db8:7::2", 5353, "2001:db8:1::10", 4840);
  expected.id = 7;
  check_flow(flow, expected);
}

TEST_CASE("a dump entry without counters: has_counters false, start but no stop") {
  net::Flow flow;
  flow.packets_to_destination = 77;  // replaced wholesale, not merged
  REQUIRE(parse(tcp_v4_dump_without_counters().bytes, flow));
  net::Flow expected = between(AF_INET, IPPROTO_TCP, "198.18.7.3", 50000, "203.0.113.5", 8883);
  expected.id = 99;
  expected.mark = 0x2b;
  expected.start_ns = kStart;
  check_flow(flow, expected);
}

TEST_CASE("what other kernels and protocols send") {
  net::Flow flow;
  SUBCASE("ICMP has no ports") {
    const Message icmp =
        message(IPCTNL_MSG_CT_NEW, 0, AF_INET,
                {nest(CTA_TUPLE_ORIG,
                      {nest(CTA_TUPLE_IP, {address(CTA_IP_V4_SRC, AF_INET, "198.18.7.2"),
                                           address(CTA_IP_V4_DST, AF_INET, "192.0.2.10")}),
                       nest(CTA_TUPLE_PROTO,
                            {u8(CTA_PROTO_NUM, IPPROTO_ICMP), be16(CTA_PROTO_ICMP_ID, 0x1234),
                             u8(CTA_PROTO_ICMP_TYPE, 8), u8(CTA_PROTO_ICMP_CODE, 0)})}),
                 be32(CTA_MARK, 1)});
    REQUIRE(parse(icmp.bytes, flow));
    CHECK(flow.protocol == IPPROTO_ICMP);
    CHECK(flow.source_port == 0);
    CHECK(flow.destination_port == 0);
    CHECK(flow.id == 0);  // absent
  }
  SUBCASE("64-bit padding attributes (architectures without unaligned access)") {
    const Message padded = message(
        IPCTNL_MSG_CT_DELETE, 0, AF_INET,
        {tuple(CTA_TUPLE_ORIG, AF_INET, "198.18.7.2", "192.0.2.10", IPPROTO_TCP, 1, 2),
         nest(CTA_COUNTERS_ORIG, {Attribute{CTA_COUNTERS_PAD, {}, {}, false},
                                  be64(CTA_COUNTERS_PACKETS, 3), be64(CTA_COUNTERS_BYTES, 4)}),
         nest(CTA_TIMESTAMP,
              {Attribute{CTA_TIMESTAMP_PAD, {}, {}, false}, be64(CTA_TIMESTAMP_START, 5)})});
    REQUIRE(parse(padded.bytes, flow));
    CHECK(flow.has_counters);
    CHECK(flow.packets_to_destination == 3);
    CHECK(flow.bytes_to_destination == 4);
    CHECK(flow.packets_from_destination == 0);
    CHECK(flow.start_ns == 5);
  }
  SUBCASE("attribute types newer than our headers are skipped") {
    const Message newer =
        message(IPCTNL_MSG_CT_NEW, 0, AF_INET,
                {be32(CTA_MAX + 5, 1),
                 tuple(CTA_TUPLE_ORIG, AF_INET, "198.18.7.2", "192.0.2.10", IPPROTO_TCP, 1, 2),
                 be64(0x7ff, 9)});
    REQUIRE(parse(newer.bytes, flow));
    CHECK(flow.destination == "192.0.2.10");
  }
  SUBCASE("bytes after the message are not its business") {
    Bytes bytes = udp_v6_new().bytes;
    bytes.insert(bytes.end(), 64, 0xee);
    REQUIRE(parse(bytes, flow));
    CHECK(flow.destination_port == 4840);
  }
}

TEST_CASE("malformed messages are refused and leave the flow untouched") {
  net::Flow flow;
  flow.id = 4242;
  const auto refused = [&](const Bytes& bytes) {
    const bool parsed = parse(bytes, flow);
    CHECK(flow.id == 4242);
    return !parsed;
  };
  const auto orig = tuple(CTA_TUPLE_ORIG, AF_INET, "198.18.7.2", "192.0.2.10", 6, 1, 2);
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET, {be32(CTA_MARK, 1)}).bytes));  // no tuple
  CHECK(refused(message(IPCTNL_MSG_CT_GET, 0, AF_INET, {orig}).bytes));
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_BRIDGE, {orig}).bytes));
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET6, {orig}).bytes));  // v4 addresses
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET, {orig, be16(CTA_MARK, 1)}).bytes));
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET, {orig, be64(CTA_ID, 1)}).bytes));
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET,
                        {orig, nest(CTA_COUNTERS_ORIG, {be64(CTA_COUNTERS_PACKETS, 1)})})
                    .bytes));  // bytes missing
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET,
                        {orig, nest(CTA_COUNTERS_REPLY,
                                    {be32(CTA_COUNTERS_PACKETS, 1), be32(CTA_COUNTERS_BYTES, 1)})})
                    .bytes));
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET,
                        {orig, nest(CTA_TIMESTAMP, {be32(CTA_TIMESTAMP_START, 1)})})
                    .bytes));
  CHECK(refused(
      message(IPCTNL_MSG_CT_NEW, 0, AF_INET,
              {tuple(CTA_TUPLE_ORIG, AF_INET, "198.18.7.2", "192.0.2.10", 6, 1, 0).children[0]})
          .bytes));  // a tuple's parts at top level are not a tuple
  Attribute no_protocol = orig;
  no_protocol.children[1].children.erase(no_protocol.children[1].children.begin());
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET, {no_protocol}).bytes));
  Attribute wide_port = orig;
  wide_port.children[1].children[1] = be32(CTA_PROTO_SRC_PORT, 1);
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET, {wide_port}).bytes));
  Attribute no_destination = orig;
  no_destination.children[0].children.pop_back();
  CHECK(refused(message(IPCTNL_MSG_CT_NEW, 0, AF_INET, {no_destination}).bytes));

  SUBCASE("lengths that lie") {
    Bytes bytes = tcp_v4_destroy().bytes;
    const std::uint32_t real = static_cast<std::uint32_t>(bytes.size());
    for (std::uint32_t claimed : {0u, 15u, 16u, 19u, real + 1, real + 4, 0xffffffffu}) {
      std::memcpy(bytes.data(), &claimed, 4);
      CHECK(refused(bytes));
    }
    // The tuple's nest claims four bytes more than it has: the next attribute's header
    // would be read as part of it.
    bytes = tcp_v4_destroy().bytes;
    std::memcpy(bytes.data(), &real, 4);
    std::uint16_t tuple_length = 0;
    std::memcpy(&tuple_length, bytes.data() + 20, 2);
    tuple_length = static_cast<std::uint16_t>(tuple_length + 4);
    std::memcpy(bytes.data() + 20, &tuple_length, 2);
    CHECK(refused(bytes));
    // An attribute shorter than its own header.
    tuple_length = 3;
    std::memcpy(bytes.data() + 20, &tuple_length, 2);
    CHECK(refused(bytes));
  }
  CHECK(net::parse_flow(nullptr, 100, flow) == false);
  CHECK(flow.id == 4242);
}

TEST_CASE("truncated at every byte") {
  for (const Message& fixture : fixtures()) {
    const Bytes& whole = fixture.bytes;
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
      CAPTURE(cut);
      net::Flow flow;
      // The datagram ends early; the header still claims the whole message.
      CHECK_FALSE(parse(whole, cut, flow));
      // The header is rewritten to the cut too: only a cut between two top-level
      // attributes, after the original tuple, is still a message (a shorter one).
      const Bytes cut_bytes = sekisho::testing::cut_message(whole, cut);
      const bool at_boundary = std::find(fixture.boundaries.begin(), fixture.boundaries.end(),
                                         cut) != fixture.boundaries.end();
      const bool parsed = parse(cut_bytes, flow);
      CHECK(parsed == (at_boundary && cut >= fixture.boundaries.front()));
      if (parsed) {
        net::Flow complete;
        REQUIRE(parse(whole, complete));
        CHECK(flow.source == complete.source);
        CHECK(flow.destination_port == complete.destination_port);
      }
    }
  }
}

TEST_CASE("thousands of mutated and random messages never crash") {
  // Fixed seed: a failure repeats. Each run costs well under a second.
  std::mt19937 random(20240607);
  const std::vector<Message> valid = fixtures();
  int parsed = 0;
  int total = 0;
  const auto check = [&](const Bytes& bytes) {
    net::Flow flow;
    ++total;
    if (parse(bytes, flow)) {
      ++parsed;
      // Whatever got through is a well-formed flow.
      CHECK((flow.family == AF_INET || flow.family == AF_INET6));
      CHECK(!flow.source.empty());
      CHECK(!flow.destination.empty());
    }
  };
  for (int round = 0; round < 6000; ++round) {
    Bytes bytes = valid[random() % valid.size()].bytes;
    switch (round % 4) {
      case 0: {  // flip a few bytes anywhere past the length field
        const int flips = 1 + static_cast<int>(random() % 4);
        for (int i = 0; i < flips; ++i) {
          bytes[4 + random() % (bytes.size() - 4)] = static_cast<std::uint8_t>(random());
        }
        break;
      }
      case 1: {  // set an attribute-length-sized field to an extreme
        const std::size_t at = 20 + (random() % ((bytes.size() - 20) / 2)) * 2;
        constexpr std::uint16_t kExtremes[] = {0, 1, 3, 4, 0xffff, 0x8000};
        const std::uint16_t value = kExtremes[random() % std::size(kExtremes)];
        std::memcpy(bytes.data() + at, &value, 2);
        break;
      }
      case 2: {  // cut or grow, and make the header agree
        bytes.resize(16 + random() % (bytes.size() + 32), static_cast<std::uint8_t>(random()));
        const auto length = static_cast<std::uint32_t>(bytes.size());
        std::memcpy(bytes.data(), &length, 4);
        break;
      }
      default: {  // random attributes behind a valid header
        bytes.resize(20 + random() % 512);
        for (std::size_t i = 20; i < bytes.size(); ++i) {
          bytes[i] = static_cast<std::uint8_t>(random());
        }
        const auto length = static_cast<std::uint32_t>(bytes.size());
        std::memcpy(bytes.data(), &length, 4);
        break;
      }
    }
    check(bytes);
  }
  MESSAGE(parsed << " of " << total << " mutated messages still parsed");
  CHECK(total == 6000);
  CHECK(parsed > 0);  // the mutations leave some messages valid: the check above ran
}
