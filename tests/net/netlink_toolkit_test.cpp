// The netlink toolkit (daemon/net/netlink_*.hpp, nflog.hpp) without a kernel: requests
// checked against the bytes the kernel's uapi headers lay out, written here by hand; the
// attribute walks and readers against byte fixtures, every truncation and a few thousand
// mutations of them, which must never crash or read outside the message (run it under
// ASan/UBSan); and the nfnetlink_log pieces a listener needs: the bind request and an
// NFULNL_MSG_PACKET as the kernel's __build_packet_message writes it.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <arpa/inet.h>  // before the linux headers: glibc then keeps its in.h
#include <doctest/doctest.h>
#include <linux/genetlink.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "daemon/net/netlink_attributes.hpp"
#include "daemon/net/netlink_request.hpp"
#include "daemon/net/nflog.hpp"
#include "tests/net/netlink_bytes.hpp"

namespace net = sekisho::net;
using sekisho::testing::Attribute;
using sekisho::testing::be16;
using sekisho::testing::be32;
using sekisho::testing::Bytes;
using sekisho::testing::Message;
using sekisho::testing::nest;
using sekisho::testing::raw;
using sekisho::testing::text;

namespace {

Bytes bytes_of(const net::Request& request) {
  const auto span = request.bytes();
  return {span.begin(), span.end()};
}

// A netlink header as the kernel reads it: length, type, flags, seq 0, port id 0.
Bytes header(std::uint32_t length, std::uint16_t type, std::uint16_t flags) {
  Bytes out(16, 0);
  std::memcpy(out.data(), &length, 4);
  std::memcpy(out.data() + 4, &type, 2);
  std::memcpy(out.data() + 6, &flags, 2);
  return out;
}

void append(Bytes& out, std::initializer_list<std::uint8_t> bytes) {
  out.insert(out.end(), bytes);
}

// Aligned storage for a message, as netlink buffers are.
struct Aligned {
  explicit Aligned(const Bytes& bytes, std::size_t length)
      : words((std::max<std::size_t>(length, 1) + 3) / 4) {
    std::copy_n(bytes.begin(), std::min(length, bytes.size()),
                reinterpret_cast<std::uint8_t*>(words.data()));
    span = net::ByteSpan(reinterpret_cast<const std::uint8_t*>(words.data()), length);
  }
  explicit Aligned(const Bytes& bytes) : Aligned(bytes, bytes.size()) {}
  const nlmsghdr* message() const { return reinterpret_cast<const nlmsghdr*>(words.data()); }
  std::vector<std::uint32_t> words;
  net::ByteSpan span;
};

constexpr std::uint16_t kPacketType = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET;

// What the kernel sends for `log group 7 prefix "modbus "` on a forwarded IPv4 packet
// with NFULNL_CFG_F_SEQ: __build_packet_message's order, 28 bytes of packet copied.
Message nflog_packet() {
  const Bytes packet = {0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
                        0x00, 0x00, 0xc6, 0x12, 0x07, 0x02, 0xc0, 0x00, 0x02, 0x0a,
                        0x9c, 0x41, 0x01, 0xf6, 0x00, 0x00, 0x00, 0x01};
  return sekisho::testing::nfnetlink_message(
      kPacketType, 0, NFPROTO_IPV4, 7,
      {raw(NFULA_PACKET_HDR, {0x08, 0x00, NF_INET_FORWARD, 0}), text(NFULA_PREFIX, "modbus "),
       be32(NFULA_IFINDEX_INDEV, 3), be32(NFULA_IFINDEX_OUTDEV, 4), be32(NFULA_MARK, 0x2a),
       raw(NFULA_HWADDR, Bytes(12, 0)), be16(NFULA_HWTYPE, 1), be16(NFULA_HWLEN, 14),
       raw(NFULA_HWHEADER, Bytes(14, 0xee)), be32(NFULA_SEQ, 41), raw(NFULA_PAYLOAD, packet)});
}

// The datagram walk first, as a reader does: it refuses what does not fit. The packet's
// payload points into `aligned`.
bool parse_packet(const Aligned& aligned, net::NflogPacket& packet) {
  bool parsed = false;
  net::walk_messages(aligned.span, [&](const nlmsghdr* message) {
    parsed = net::parse_nflog_packet(message, packet);
    return false;
  });
  return parsed;
}

bool parse_packet(const Bytes& bytes, std::size_t length, net::NflogPacket& packet) {
  const Aligned aligned(bytes, length);
  return parse_packet(aligned, packet);  // the payload is not to be read after this
}

}  // namespace

TEST_CASE("a request is the header, the fixed header and padded attributes") {
  net::Request request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE, 128);
  auto* info = request.put_fixed<ifinfomsg>();
  REQUIRE(info != nullptr);
  info->ifi_index = 9;
  CHECK(request.put_string(IFLA_IFNAME, "wan0"));
  {
    net::Request::Nest link_info = request.nest(IFLA_LINKINFO);
    REQUIRE(link_info);
    CHECK(request.put_string(IFLA_INFO_KIND, "dummy"));
  }
  CHECK(request.put_u8(100, 0xab));
  CHECK(request.put_be32(101, 0x01020304));
  CHECK_FALSE(request.overflowed());

  Bytes expected =
      header(16 + 16 + 12 + 16 + 8 + 8, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
  append(expected, {0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // ifinfomsg
  append(expected, {9, 0, IFLA_IFNAME, 0, 'w', 'a', 'n', '0', 0, 0, 0, 0});
  append(expected, {16, 0, IFLA_LINKINFO, 0x80});  // NLA_F_NESTED, as libmnl sets
  append(expected, {10, 0, IFLA_INFO_KIND, 0, 'd', 'u', 'm', 'm', 'y', 0, 0, 0});
  append(expected, {5, 0, 100, 0, 0xab, 0, 0, 0});
  append(expected, {8, 0, 101, 0, 1, 2, 3, 4});
  CHECK(bytes_of(request) == expected);
}

TEST_CASE("a put that does not fit writes nothing and marks the request") {
  net::Request request(RTM_GETLINK, 0, 16 + 8 + 8);
  CHECK(request.put_u32(1, 7));
  CHECK(request.put_u32(2, 8));
  const Bytes full = bytes_of(request);
  CHECK_FALSE(request.overflowed());
  CHECK_FALSE(request.put_u8(3, 1));
  CHECK(request.overflowed());
  CHECK(bytes_of(request) == full);
  CHECK(request.put_fixed<ifinfomsg>() == nullptr);
  CHECK_FALSE(request.nest(4));
  CHECK(bytes_of(request) == full);

  net::Request strings(RTM_GETLINK, 0);
  CHECK_FALSE(strings.put_string(1, std::string("a\0b", 3)));  // a NUL inside: refused
  CHECK(strings.overflowed());
  CHECK(strings.size() == 16);
  net::Request large(RTM_GETLINK, 0, 70000);
  CHECK_FALSE(large.put_bytes(1, Bytes(65532).data(), 65532));  // beyond a 16-bit length
  CHECK(large.size() == 16);
}

TEST_CASE("a cancelled nest takes back everything put inside it") {
  net::Request request(RTM_NEWLINK, 0, 16 + 8 + 4 + 8 + 4);
  CHECK(request.put_u32(1, 1));
  const Bytes before = bytes_of(request);
  net::Request::Nest outer = request.nest(2);
  REQUIRE(outer);
  CHECK(request.put_u32(3, 3));
  CHECK_FALSE(request.put_u64(4, 4));  // does not fit: the builder takes the nest back
  outer.cancel();
  CHECK(bytes_of(request) == before);
  outer.end();  // a cancelled nest stays cancelled
  CHECK(bytes_of(request) == before);
  {
    net::Request::Nest again = request.nest(2);
    CHECK(request.put_u32(3, 3));
  }  // ended when it goes away
  Bytes expected = before;
  append(expected, {12, 0, 2, 0x80, 8, 0, 3, 0, 3, 0, 0, 0});
  expected[0] = static_cast<std::uint8_t>(expected.size());
  CHECK(bytes_of(request) == expected);
}

TEST_CASE("genetlink and nfnetlink fixed headers") {
  net::Request genl(0x1d, NLM_F_DUMP);
  REQUIRE(genl.genl(3, 1) != nullptr);
  Bytes expected = header(20, 0x1d, NLM_F_REQUEST | NLM_F_DUMP);
  append(expected, {3, 1, 0, 0});
  CHECK(bytes_of(genl) == expected);

  net::Request nfgen(NFNL_SUBSYS_CTNETLINK << 8, 0);
  REQUIRE(nfgen.nfgen(AF_INET6, NFNETLINK_V0, 0x0102) != nullptr);
  expected = header(20, NFNL_SUBSYS_CTNETLINK << 8, NLM_F_REQUEST);
  append(expected, {AF_INET6, 0, 1, 2});  // res_id big-endian
  CHECK(bytes_of(nfgen) == expected);
}

TEST_CASE("the nfnetlink_log bind request") {
  net::NflogConfig config;
  config.group = 7;
  config.copy_range = 128;
  const net::Request bind = net::nflog_bind_request(config);
  const std::uint16_t type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG;
  Bytes expected = header(16 + 4 + 8 + 12 + 8, type, NLM_F_REQUEST | NLM_F_ACK);
  append(expected, {AF_UNSPEC, NFNETLINK_V0, 0, 7});
  append(expected, {5, 0, NFULA_CFG_CMD, 0, NFULNL_CFG_CMD_BIND, 0, 0, 0});
  // nfulnl_msg_config_mode is packed: be32 copy_range, u8 copy_mode, u8 pad.
  append(expected, {10, 0, NFULA_CFG_MODE, 0, 0, 0, 0, 128, NFULNL_COPY_PACKET, 0, 0, 0});
  append(expected, {6, 0, NFULA_CFG_FLAGS, 0, 0, NFULNL_CFG_F_SEQ, 0, 0});
  CHECK(bytes_of(bind) == expected);
  CHECK_FALSE(bind.overflowed());

  config.copy_range = 0;
  config.sequence_numbers = false;
  const Bytes meta = bytes_of(net::nflog_bind_request(config));
  REQUIRE(meta.size() == 16 + 4 + 8 + 12);
  CHECK(meta[16 + 4 + 8 + 8] == NFULNL_COPY_META);

  const Bytes unbind = bytes_of(net::nflog_unbind_request(7));
  expected = header(16 + 4 + 8, type, NLM_F_REQUEST | NLM_F_ACK);
  append(expected, {AF_UNSPEC, NFNETLINK_V0, 0, 7});
  append(expected, {5, 0, NFULA_CFG_CMD, 0, NFULNL_CFG_CMD_UNBIND, 0, 0, 0});
  CHECK(unbind == expected);
}

TEST_CASE("an NFULNL_MSG_PACKET as the kernel writes it") {
  const Message fixture = nflog_packet();
  const Aligned datagram(fixture.bytes);
  net::NflogPacket packet;
  REQUIRE(parse_packet(datagram, packet));
  CHECK(packet.family == NFPROTO_IPV4);
  CHECK(packet.group == 7);
  CHECK(packet.hw_protocol == ETH_P_IP);
  CHECK(packet.hook == NF_INET_FORWARD);
  CHECK(packet.prefix == "modbus ");
  CHECK(packet.indev == 3u);
  CHECK(packet.outdev == 4u);
  CHECK(packet.mark == 0x2au);
  CHECK(packet.seq == 41u);
  REQUIRE(packet.payload.size() == 28);
  CHECK(packet.payload[0] == 0x45);
  CHECK(packet.payload[27] == 0x01);

  // The least a packet carries: the header. Absent values stay absent.
  const Message bare = sekisho::testing::nfnetlink_message(
      kPacketType, 0, NFPROTO_IPV6, 2, {raw(NFULA_PACKET_HDR, {0x86, 0xdd, NF_INET_LOCAL_IN, 0})});
  net::NflogPacket minimal;
  REQUIRE(parse_packet(bare.bytes, bare.bytes.size(), minimal));
  CHECK(minimal.hw_protocol == ETH_P_IPV6);
  CHECK(minimal.prefix.empty());
  CHECK_FALSE(minimal.mark.has_value());
  CHECK_FALSE(minimal.seq.has_value());
  CHECK(minimal.payload.empty());
}

TEST_CASE("malformed NFULNL_MSG_PACKETs are refused and leave the packet untouched") {
  net::NflogPacket packet;
  packet.prefix = "untouched";
  auto refused = [&](const Message& message) {
    CHECK_FALSE(parse_packet(message.bytes, message.bytes.size(), packet));
    CHECK(packet.prefix == "untouched");
  };
  const Bytes hdr = {0x08, 0x00, NF_INET_FORWARD, 0};
  SUBCASE("no packet header") {
    refused(sekisho::testing::nfnetlink_message(kPacketType, 0, 2, 7, {be32(NFULA_MARK, 1)}));
  }
  SUBCASE("a packet header of the wrong size") {
    refused(sekisho::testing::nfnetlink_message(kPacketType, 0, 2, 7,
                                                {raw(NFULA_PACKET_HDR, {8, 0, 2})}));
  }
  SUBCASE("a mark of three bytes") {
    refused(sekisho::testing::nfnetlink_message(
        kPacketType, 0, 2, 7, {raw(NFULA_PACKET_HDR, hdr), raw(NFULA_MARK, {0, 0, 1})}));
  }
  SUBCASE("a prefix without its NUL") {
    refused(sekisho::testing::nfnetlink_message(
        kPacketType, 0, 2, 7, {raw(NFULA_PACKET_HDR, hdr), raw(NFULA_PREFIX, {'a', 'b'})}));
  }
  SUBCASE("another message type") {
    refused(sekisho::testing::nfnetlink_message(NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG, 0, 2, 7,
                                                {raw(NFULA_PACKET_HDR, hdr)}));
  }
  SUBCASE("shorter than its nfgenmsg") {
    Bytes bytes = header(18, kPacketType, 0);
    append(bytes, {2, 0, 0, 0});
    Aligned aligned(bytes, 18);
    CHECK_FALSE(net::parse_nflog_packet(aligned.message(), packet));
  }
}

TEST_CASE("walks: lengths that lie end the walk before anything is read outside") {
  // Two attributes: u32 type 1 and a nest type 2 holding u16 type 3.
  const Bytes attributes = {8, 0, 1, 0, 1, 2, 3, 4, 12, 0, 2, 0x80, 6, 0, 3, 0, 9, 9, 0, 0};
  int visited = 0;
  auto count = [&](const nlattr*) {
    ++visited;
    return true;
  };
  CHECK(net::walk(attributes, count));
  CHECK(visited == 2);

  std::array<const nlattr*, 3> top{};  // type 3 is beyond: skipped at this level
  REQUIRE(net::table(attributes, top));
  REQUIRE(top[1] != nullptr);
  REQUIRE(top[2] != nullptr);
  std::uint32_t number = 0;
  CHECK(net::read(top[1], number));
  std::uint32_t big = 0;
  CHECK(net::read_be(top[1], big));
  CHECK(big == 0x01020304);
  std::uint16_t small = 0;
  CHECK_FALSE(net::read(top[1], small));  // exact sizes only
  std::array<const nlattr*, 4> inner{};
  REQUIRE(net::table_nested(top[2], inner));
  REQUIRE(inner[3] != nullptr);
  CHECK(net::read_be(inner[3], small));
  CHECK(small == 0x0909);

  SUBCASE("a later duplicate wins") {
    const Bytes twice = {8, 0, 1, 0, 1, 0, 0, 0, 8, 0, 1, 0, 2, 0, 0, 0};
    std::array<const nlattr*, 2> found{};
    REQUIRE(net::table(twice, found));
    std::uint32_t value = 0;
    REQUIRE(net::read(found[1], value));
    CHECK(value == 2);
  }
  SUBCASE("the last attribute's padding may be missing") {
    const Bytes unpadded = {5, 0, 1, 0, 7};
    CHECK(net::walk(unpadded, count));
  }
  SUBCASE("bytes after the last attribute that cannot be one") {
    for (std::size_t extra = 1; extra < 4; ++extra) {
      Bytes trailing = attributes;
      trailing.resize(trailing.size() + extra, 0);
      CHECK_FALSE(net::walk(trailing, count));
    }
  }
  SUBCASE("a length smaller than the header, or beyond what is left") {
    for (std::uint16_t length : {0, 1, 3, 21, 0xffff}) {
      Bytes lying = attributes;
      std::memcpy(lying.data() + 8, &length, 2);
      std::array<const nlattr*, 3> found{};
      CHECK_FALSE(net::table(lying, found));
    }
  }
}

TEST_CASE("messages in a datagram: every cut and every lying length") {
  const Message packet = nflog_packet();
  Bytes datagram = packet.bytes;
  datagram.insert(datagram.end(), packet.bytes.begin(), packet.bytes.end());
  int messages = 0;
  Aligned whole(datagram);
  CHECK(net::walk_messages(whole.span, [&](const nlmsghdr*) {
    ++messages;
    return true;
  }));
  CHECK(messages == 2);
  for (std::size_t cut = 0; cut < datagram.size(); ++cut) {
    CAPTURE(cut);
    Aligned part(datagram, cut);
    messages = 0;
    const bool walked = net::walk_messages(part.span, [&](const nlmsghdr*) {
      ++messages;
      return true;
    });
    // Only a cut between the two messages leaves whole messages.
    CHECK(walked == (cut == 0 || cut == packet.bytes.size()));
    CHECK(messages == (cut >= packet.bytes.size() ? 1 : 0));
  }
  for (std::uint32_t length : {0u, 15u, 0x80000000u, 0xffffffffu}) {
    Bytes lying = datagram;
    std::memcpy(lying.data(), &length, 4);
    Aligned aligned(lying);
    CHECK_FALSE(net::walk_messages(aligned.span, [](const nlmsghdr*) { return true; }));
  }
}

TEST_CASE("an NFULNL_MSG_PACKET truncated at every byte") {
  const Message fixture = nflog_packet();
  const Bytes& whole = fixture.bytes;
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    CAPTURE(cut);
    net::NflogPacket packet;
    // The datagram ends early; the header still claims the whole message.
    CHECK_FALSE(parse_packet(whole, cut, packet));
    // The header rewritten to the cut: only a cut between two attributes (or in the last
    // one's padding), after the packet header, is a (shorter) message.
    const Bytes cut_bytes = sekisho::testing::cut_message(whole, cut);
    bool at_boundary = false;
    std::size_t start = 20;
    for (std::size_t end : fixture.boundaries) {
      std::uint16_t length = 0;
      std::memcpy(&length, whole.data() + start, 2);
      at_boundary = at_boundary || (cut >= start + length && cut <= end);
      start = end;
    }
    CHECK(parse_packet(cut_bytes, cut, packet) ==
          (at_boundary && cut >= fixture.boundaries.front()));
  }
}

TEST_CASE("thousands of mutated NFULNL_MSG_PACKETs never crash") {
  std::mt19937 random(20261208);  // fixed: a failure repeats
  const Bytes valid = nflog_packet().bytes;
  int parsed = 0;
  for (int round = 0; round < 6000; ++round) {
    Bytes bytes = valid;
    switch (round % 3) {
      case 0: {  // flip a few bytes past the length field
        for (int i = 0, flips = 1 + static_cast<int>(random() % 4); i < flips; ++i) {
          bytes[4 + random() % (bytes.size() - 4)] = static_cast<std::uint8_t>(random());
        }
        break;
      }
      case 1: {  // an attribute-length-sized field set to an extreme
        const std::size_t at = 20 + (random() % ((bytes.size() - 20) / 2)) * 2;
        constexpr std::uint16_t kExtremes[] = {0, 1, 3, 4, 5, 0xffff, 0x8000};
        const std::uint16_t value = kExtremes[random() % std::size(kExtremes)];
        std::memcpy(bytes.data() + at, &value, 2);
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
    net::NflogPacket packet;
    if (parse_packet(bytes, bytes.size(), packet)) {
      ++parsed;
      CHECK(packet.payload.size() <= bytes.size());  // inside the message
    }
  }
  MESSAGE(parsed << " of 6000 mutated packets still parsed");
  CHECK(parsed > 0);
}

TEST_CASE("the error an NLMSG_ERROR or NLMSG_DONE carries") {
  Bytes done = header(20, NLMSG_DONE, NLM_F_MULTI);
  const int error = -ENODEV;
  done.resize(20);
  std::memcpy(done.data() + 16, &error, 4);
  CHECK(net::message_error(Aligned(done).message()) == -ENODEV);
  Bytes short_done = header(18, NLMSG_DONE, 0);
  short_done.resize(20);
  CHECK_FALSE(net::message_error(Aligned(short_done).message()).has_value());
}
