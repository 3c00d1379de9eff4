// The kernel WireGuard backend's codec (daemon/vpn/genl): requests decoded field by field
// and replies written byte by byte here, from the layout in linux/wireguard.h, never with
// genl.cpp's own code. The build machines have no wireguard module, so this is what
// checks the wire format before the lab does.

#include "daemon/vpn/genl.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <ostream>  // doctest prints std::error_code with it
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include "tests/vpn/test_keys.hpp"

using namespace sekisho::vpn;
using sekisho::policy::Cidr;
using sekisho::policy::Family;
using sekisho::vpn::testing::key_of;

namespace {

using Bytes = std::vector<std::uint8_t>;

Cidr cidr(const char* text) {
  const auto parsed = sekisho::policy::parse_cidr(text);
  REQUIRE(parsed);
  return *parsed;
}

// ---- writing replies by hand ----------------------------------------------------------

// Netlink bytes in host order: nlmsghdr is u32 len, u16 type, u16 flags, u32 seq, u32 pid;
// genlmsghdr is u8 cmd, u8 version, u16 reserved; nlattr is u16 len, u16 type; every
// header and payload is padded to 4 bytes.
class NetlinkWriter {
 public:
  Bytes bytes;

  std::size_t begin_message(std::uint16_t type, std::uint16_t flags, std::uint32_t seq = 7) {
    const std::size_t start = bytes.size();
    put_u32(0);  // length, patched by end_message
    put_u16(type);
    put_u16(flags);
    put_u32(seq);
    put_u32(0);  // port id
    return start;
  }
  void genl_header(std::uint8_t command, std::uint8_t version = 1) {
    bytes.push_back(command);
    bytes.push_back(version);
    put_u16(0);
  }
  void end_message(std::size_t start) { patch_u32(start, bytes.size() - start); }

  void attribute(std::uint16_t type, const void* data, std::size_t length) {
    put_u16(static_cast<std::uint16_t>(4 + length));
    put_u16(type);
    const auto* p = static_cast<const std::uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + length);
    pad();
  }
  void u8(std::uint16_t type, std::uint8_t value) { attribute(type, &value, 1); }
  void u16(std::uint16_t type, std::uint16_t value) { attribute(type, &value, 2); }
  void u32(std::uint16_t type, std::uint32_t value) { attribute(type, &value, 4); }
  void u64(std::uint16_t type, std::uint64_t value) { attribute(type, &value, 8); }
  void string(std::uint16_t type, const std::string& text) {
    attribute(type, text.c_str(), text.size() + 1);
  }
  void key(std::uint16_t type, const Key& key) { attribute(type, key.data(), key.size()); }

  // The kernel marks nests with NLA_F_NESTED; readers must look past it.
  std::size_t begin_nest(std::uint16_t type) {
    const std::size_t start = bytes.size();
    put_u16(0);
    put_u16(static_cast<std::uint16_t>(type | NLA_F_NESTED));
    return start;
  }
  void end_nest(std::size_t start) {
    const auto length = static_cast<std::uint16_t>(bytes.size() - start);
    std::memcpy(bytes.data() + start, &length, 2);
  }

  void done(int error = 0) {
    const std::size_t start = begin_message(NLMSG_DONE, NLM_F_MULTI);
    put_u32(static_cast<std::uint32_t>(error));
    end_message(start);
  }
  void error(int error) {
    const std::size_t start = begin_message(NLMSG_ERROR, 0);
    put_u32(static_cast<std::uint32_t>(error));
    // the request it answers: a bare header is enough here
    for (int i = 0; i < 16; ++i) {
      bytes.push_back(0);
    }
    end_message(start);
  }

  void put_u16(std::uint16_t value) { append(&value, 2); }
  void put_u32(std::uint32_t value) { append(&value, 4); }

 private:
  void append(const void* data, std::size_t length) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + length);
  }
  void pad() {
    while (bytes.size() % 4 != 0) {
      bytes.push_back(0);
    }
  }
  void patch_u32(std::size_t offset, std::size_t value) {
    const auto v = static_cast<std::uint32_t>(value);
    std::memcpy(bytes.data() + offset, &v, 4);
  }
};

constexpr std::uint16_t kFamilyId = 0x1b;

void endpoint_v4(NetlinkWriter& w, const char* address, std::uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  REQUIRE(inet_pton(AF_INET, address, &sin.sin_addr) == 1);
  w.attribute(WGPEER_A_ENDPOINT, &sin, sizeof sin);
}

void endpoint_v6(NetlinkWriter& w, const char* address, std::uint16_t port) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  REQUIRE(inet_pton(AF_INET6, address, &sin6.sin6_addr) == 1);
  w.attribute(WGPEER_A_ENDPOINT, &sin6, sizeof sin6);
}

void allowed_ip(NetlinkWriter& w, const char* address, std::uint8_t prefix) {
  const std::size_t nest = w.begin_nest(0);
  if (std::strchr(address, ':') != nullptr) {
    in6_addr a{};
    REQUIRE(inet_pton(AF_INET6, address, &a) == 1);
    w.u16(WGALLOWEDIP_A_FAMILY, AF_INET6);
    w.attribute(WGALLOWEDIP_A_IPADDR, &a, sizeof a);
  } else {
    in_addr a{};
    REQUIRE(inet_pton(AF_INET, address, &a) == 1);
    w.u16(WGALLOWEDIP_A_FAMILY, AF_INET);
    w.attribute(WGALLOWEDIP_A_IPADDR, &a, sizeof a);
  }
  w.u8(WGALLOWEDIP_A_CIDR_MASK, prefix);
  w.end_nest(nest);
}

void handshake(NetlinkWriter& w, std::int64_t seconds, std::int64_t nanoseconds) {
  std::int64_t time[2] = {seconds, nanoseconds};  // struct __kernel_timespec
  w.attribute(WGPEER_A_LAST_HANDSHAKE_TIME, time, sizeof time);
}

// A device message as the kernel's first dump part: every device attribute.
std::size_t begin_device_message(NetlinkWriter& w, bool first) {
  const std::size_t start = w.begin_message(kFamilyId, NLM_F_MULTI);
  w.genl_header(WG_CMD_GET_DEVICE);
  if (first) {
    w.u32(WGDEVICE_A_IFINDEX, 5);
  }
  w.string(WGDEVICE_A_IFNAME, "wg0");
  if (first) {
    w.key(WGDEVICE_A_PRIVATE_KEY, key_of(0x11));
    w.key(WGDEVICE_A_PUBLIC_KEY, key_of(0x12));
    w.u16(WGDEVICE_A_LISTEN_PORT, 51820);
    w.u32(WGDEVICE_A_FWMARK, 0x42);
  }
  return start;
}

// Peer A: IPv4 endpoint, keepalive, handshake, traffic, two allowed IPs.
void peer_a(NetlinkWriter& w) {
  const std::size_t nest = w.begin_nest(0);
  w.key(WGPEER_A_PUBLIC_KEY, key_of(0xa1));
  w.key(WGPEER_A_PRESHARED_KEY, key_of(0));
  endpoint_v4(w, "192.0.2.1", 51820);
  w.u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
  handshake(w, 1700000000, 123456789);
  w.u64(WGPEER_A_RX_BYTES, 1000);
  w.u64(WGPEER_A_TX_BYTES, 0x100000000ULL + 2000);
  const std::size_t ips = w.begin_nest(WGPEER_A_ALLOWEDIPS);
  allowed_ip(w, "10.0.0.0", 24);
  allowed_ip(w, "10.1.0.2", 32);
  w.end_nest(ips);
  w.u32(WGPEER_A_PROTOCOL_VERSION, 1);
  w.end_nest(nest);
}

// Peer B: IPv6 endpoint, never a handshake, one IPv6 and one IPv4 allowed IP.
void peer_b(NetlinkWriter& w) {
  const std::size_t nest = w.begin_nest(0);
  w.key(WGPEER_A_PUBLIC_KEY, key_of(0xb2));
  endpoint_v6(w, "2001:db8::1", 443);
  w.u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 0);
  handshake(w, 0, 0);
  w.u64(WGPEER_A_RX_BYTES, 0);
  w.u64(WGPEER_A_TX_BYTES, 0);
  const std::size_t ips = w.begin_nest(WGPEER_A_ALLOWEDIPS);
  allowed_ip(w, "fd00:1::", 64);
  allowed_ip(w, "192.168.5.0", 24);
  w.end_nest(ips);
  w.end_nest(nest);
}

// The reply for a device with peers A and B in one message, then NLMSG_DONE.
Bytes single_message_dump() {
  NetlinkWriter w;
  const std::size_t message = begin_device_message(w, true);
  const std::size_t peers = w.begin_nest(WGDEVICE_A_PEERS);
  peer_a(w);
  peer_b(w);
  w.end_nest(peers);
  w.end_message(message);
  w.done();
  return w.bytes;
}

// ---- reading requests by hand ---------------------------------------------------------

struct Attribute {
  std::uint16_t type = 0;  // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
  Bytes payload;
};

std::vector<Attribute> read_attributes(const std::uint8_t* data, std::size_t length) {
  std::vector<Attribute> attributes;
  std::size_t offset = 0;
  while (offset < length) {
    REQUIRE(length - offset >= 4);
    std::uint16_t attribute_length = 0;
    std::uint16_t type = 0;
    std::memcpy(&attribute_length, data + offset, 2);
    std::memcpy(&type, data + offset + 2, 2);
    REQUIRE(attribute_length >= 4);
    REQUIRE(attribute_length <= length - offset);
    Attribute attribute;
    attribute.type = type & NLA_TYPE_MASK;
    attribute.payload.assign(data + offset + 4, data + offset + attribute_length);
    attributes.push_back(attribute);
    offset += (attribute_length + 3u) & ~3u;
  }
  return attributes;
}

std::vector<Attribute> read_attributes(const Bytes& payload) {
  return read_attributes(payload.data(), payload.size());
}

std::map<std::uint16_t, Bytes> by_type(const std::vector<Attribute>& attributes) {
  std::map<std::uint16_t, Bytes> map;
  for (const auto& attribute : attributes) {
    CHECK_MESSAGE(map.count(attribute.type) == 0, "attribute type repeated: " << attribute.type);
    map[attribute.type] = attribute.payload;
  }
  return map;
}

template <typename T>
T as(const Bytes& payload) {
  REQUIRE(payload.size() == sizeof(T));
  T value;
  std::memcpy(&value, payload.data(), sizeof value);
  return value;
}

struct Request {
  std::uint32_t length = 0;
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint32_t seq = 0;
  std::uint8_t command = 0;
  std::uint8_t version = 0;
  std::vector<Attribute> attributes;
};

Request read_request(const Bytes& message) {
  REQUIRE(message.size() >= 20);
  Request request;
  std::memcpy(&request.length, message.data(), 4);
  std::memcpy(&request.type, message.data() + 4, 2);
  std::memcpy(&request.flags, message.data() + 6, 2);
  std::memcpy(&request.seq, message.data() + 8, 4);
  request.command = message[16];
  request.version = message[17];
  REQUIRE(request.length == message.size());
  request.attributes = read_attributes(message.data() + 20, message.size() - 20);
  return request;
}

struct SentPeer {
  Key public_key{};
  std::optional<std::uint32_t> flags;
  std::optional<std::uint16_t> keepalive;
  std::optional<std::vector<Cidr>> allowed_ips;
};

std::vector<Cidr> read_allowed_ips(const Bytes& list) {
  std::vector<Cidr> cidrs;
  for (const auto& entry : read_attributes(list)) {
    auto fields = by_type(read_attributes(entry.payload));
    REQUIRE(fields.count(WGALLOWEDIP_A_FAMILY) == 1);
    REQUIRE(fields.count(WGALLOWEDIP_A_IPADDR) == 1);
    REQUIRE(fields.count(WGALLOWEDIP_A_CIDR_MASK) == 1);
    const auto family = as<std::uint16_t>(fields[WGALLOWEDIP_A_FAMILY]);
    const Bytes& address = fields[WGALLOWEDIP_A_IPADDR];
    Cidr cidr;
    if (family == AF_INET) {
      REQUIRE(address.size() == 4);
      cidr.network.family = Family::V4;
    } else {
      REQUIRE(family == AF_INET6);
      REQUIRE(address.size() == 16);
      cidr.network.family = Family::V6;
    }
    std::memcpy(cidr.network.bytes.data(), address.data(), address.size());
    cidr.prefix = as<std::uint8_t>(fields[WGALLOWEDIP_A_CIDR_MASK]);
    cidrs.push_back(cidr);
  }
  return cidrs;
}

std::vector<SentPeer> read_peers(const Bytes& peers_payload) {
  std::vector<SentPeer> peers;
  for (const auto& nest : read_attributes(peers_payload)) {
    auto fields = by_type(read_attributes(nest.payload));
    SentPeer peer;
    REQUIRE(fields.count(WGPEER_A_PUBLIC_KEY) == 1);
    peer.public_key = as<Key>(fields[WGPEER_A_PUBLIC_KEY]);
    if (fields.count(WGPEER_A_FLAGS) != 0) {
      peer.flags = as<std::uint32_t>(fields[WGPEER_A_FLAGS]);
    }
    if (fields.count(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL) != 0) {
      peer.keepalive = as<std::uint16_t>(fields[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
    }
    if (fields.count(WGPEER_A_ALLOWEDIPS) != 0) {
      peer.allowed_ips = read_allowed_ips(fields[WGPEER_A_ALLOWEDIPS]);
    }
    // Nothing else: no endpoint, no preshared key, no protocol version.
    for (const auto& [type, payload] : fields) {
      CHECK((type == WGPEER_A_PUBLIC_KEY || type == WGPEER_A_FLAGS ||
             type == WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL || type == WGPEER_A_ALLOWEDIPS));
    }
    peers.push_back(peer);
  }
  return peers;
}

// A SET message decoded: header checked, device attributes by type, peers in order.
struct SentMessage {
  Request request;
  std::map<std::uint16_t, Bytes> device;
  std::vector<SentPeer> peers;
};

SentMessage read_set_message(const Bytes& message) {
  SentMessage sent;
  sent.request = read_request(message);
  CHECK(sent.request.type == kFamilyId);
  CHECK(sent.request.flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(sent.request.command == WG_CMD_SET_DEVICE);
  CHECK(sent.request.version == WG_GENL_VERSION);
  sent.device = by_type(sent.request.attributes);
  CHECK(sent.device.count(WGDEVICE_A_FLAGS) == 0);  // never REPLACE_PEERS
  REQUIRE(sent.device.count(WGDEVICE_A_IFNAME) == 1);
  const Bytes& name = sent.device[WGDEVICE_A_IFNAME];
  CHECK(std::string(name.begin(), name.end()) == std::string("wg0", 4));
  if (sent.device.count(WGDEVICE_A_PEERS) != 0) {
    sent.peers = read_peers(sent.device[WGDEVICE_A_PEERS]);
  }
  return sent;
}

std::error_code parse(const std::vector<Bytes>& datagrams, WgDevice& device) {
  return parse_genl_device_dump(datagrams, device);
}

std::error_code parse(const std::vector<Bytes>& datagrams) {
  WgDevice device;
  return parse_genl_device_dump(datagrams, device);
}

}  // namespace

// ---- GET dump -----------------------------------------------------------------------

TEST_CASE("dump: one message with two peers, every field") {
  WgDevice device;
  REQUIRE(parse({single_message_dump()}, device) == std::error_code());

  REQUIRE(device.private_key);
  CHECK(*device.private_key == key_of(0x11));
  CHECK(device.listen_port == 51820);
  CHECK(device.fwmark == 0x42);
  REQUIRE(device.peers.size() == 2);

  const WgPeer& a = device.peers[0];
  CHECK(a.public_key == key_of(0xa1));
  REQUIRE(a.endpoint);
  CHECK(a.endpoint->address.family == Family::V4);
  CHECK(a.endpoint->address == sekisho::policy::parse_ip("192.0.2.1").value());
  CHECK(a.endpoint->port == 51820);
  CHECK(a.keepalive_seconds == 25);
  CHECK(a.last_handshake_seconds == 1700000000);
  CHECK(a.last_handshake_nanoseconds == 123456789);
  CHECK(a.rx_bytes == 1000);
  CHECK(a.tx_bytes == 0x100000000ULL + 2000);
  CHECK(a.allowed_ips == std::vector<Cidr>{cidr("10.0.0.0/24"), cidr("10.1.0.2/32")});

  const WgPeer& b = device.peers[1];
  CHECK(b.public_key == key_of(0xb2));
  REQUIRE(b.endpoint);
  CHECK(b.endpoint->address == sekisho::policy::parse_ip("2001:db8::1").value());
  CHECK(b.endpoint->port == 443);
  CHECK(b.keepalive_seconds == 0);
  CHECK(b.last_handshake_seconds == 0);
  CHECK(b.allowed_ips == std::vector<Cidr>{cidr("fd00:1::/64"), cidr("192.168.5.0/24")});
}

TEST_CASE("dump: NLMSG_DONE in a datagram of its own, and no private key") {
  NetlinkWriter part;
  const std::size_t message = part.begin_message(kFamilyId, NLM_F_MULTI);
  part.genl_header(WG_CMD_GET_DEVICE);
  part.string(WGDEVICE_A_IFNAME, "wg0");
  part.u16(WGDEVICE_A_LISTEN_PORT, 0);
  part.end_message(message);
  NetlinkWriter end;
  end.done();

  WgDevice device;
  device.peers.resize(3);  // replaced, not added to
  REQUIRE(parse({part.bytes, end.bytes}, device) == std::error_code());
  CHECK_FALSE(device.private_key);
  CHECK(device.peers.empty());
}

TEST_CASE("dump: a peer continued in the next part is merged into one peer") {
  NetlinkWriter first;
  std::size_t message = begin_device_message(first, true);
  std::size_t peers = first.begin_nest(WGDEVICE_A_PEERS);
  peer_a(first);
  std::size_t peer = first.begin_nest(0);
  first.key(WGPEER_A_PUBLIC_KEY, key_of(0xc3));
  endpoint_v4(first, "198.51.100.7", 1000);
  first.u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 15);
  std::size_t ips = first.begin_nest(WGPEER_A_ALLOWEDIPS);
  allowed_ip(first, "172.16.0.0", 16);
  allowed_ip(first, "172.17.0.0", 16);
  first.end_nest(ips);
  first.end_nest(peer);
  first.end_nest(peers);
  first.end_message(message);

  // The kernel's continuation: name and peers only; the peer repeats just its key.
  NetlinkWriter second;
  message = begin_device_message(second, false);
  peers = second.begin_nest(WGDEVICE_A_PEERS);
  peer = second.begin_nest(0);
  second.key(WGPEER_A_PUBLIC_KEY, key_of(0xc3));
  ips = second.begin_nest(WGPEER_A_ALLOWEDIPS);
  allowed_ip(second, "172.18.0.0", 16);
  allowed_ip(second, "2001:db8:c3::", 48);
  second.end_nest(ips);
  second.end_nest(peer);
  peer_b(second);
  second.end_nest(peers);
  second.end_message(message);

  NetlinkWriter end;
  end.done();

  WgDevice device;
  REQUIRE(parse({first.bytes, second.bytes, end.bytes}, device) == std::error_code());
  CHECK(device.listen_port == 51820);  // not reset by the continuation
  REQUIRE(device.peers.size() == 3);
  CHECK(device.peers[0].public_key == key_of(0xa1));
  const WgPeer& c = device.peers[1];
  CHECK(c.public_key == key_of(0xc3));
  CHECK(c.keepalive_seconds == 15);  // kept from the first chunk
  REQUIRE(c.endpoint);
  CHECK(c.endpoint->port == 1000);
  CHECK(c.allowed_ips == std::vector<Cidr>{cidr("172.16.0.0/16"), cidr("172.17.0.0/16"),
                                           cidr("172.18.0.0/16"), cidr("2001:db8:c3::/48")});
  CHECK(device.peers[2].public_key == key_of(0xb2));
}

TEST_CASE("dump: several netlink messages in one datagram") {
  NetlinkWriter w;
  std::size_t message = begin_device_message(w, true);
  std::size_t peers = w.begin_nest(WGDEVICE_A_PEERS);
  peer_a(w);
  w.end_nest(peers);
  w.end_message(message);
  message = begin_device_message(w, false);
  peers = w.begin_nest(WGDEVICE_A_PEERS);
  peer_b(w);
  w.end_nest(peers);
  w.end_message(message);
  w.done();

  WgDevice device;
  REQUIRE(parse({w.bytes}, device) == std::error_code());
  REQUIRE(device.peers.size() == 2);
  CHECK(device.peers[1].allowed_ips.size() == 2);
}

TEST_CASE("dump: errors from the kernel") {
  SUBCASE("NLMSG_DONE carrying an error") {
    NetlinkWriter w;
    const std::size_t message = begin_device_message(w, true);
    w.end_message(message);
    w.done(-ENODEV);
    WgDevice device;
    device.listen_port = 9;
    const auto error = parse({w.bytes}, device);
    CHECK(error == std::error_code(ENODEV, std::system_category()));
    CHECK(device.listen_port == 9);  // left alone on failure
  }
  SUBCASE("NLMSG_ERROR") {
    NetlinkWriter w;
    w.error(-EPERM);
    CHECK(parse({w.bytes}) == std::error_code(EPERM, std::system_category()));
  }
  SUBCASE("the device changed during the dump (NLM_F_DUMP_INTR)") {
    NetlinkWriter w;
    const std::size_t message = w.begin_message(kFamilyId, NLM_F_MULTI | NLM_F_DUMP_INTR);
    w.genl_header(WG_CMD_GET_DEVICE);
    w.string(WGDEVICE_A_IFNAME, "wg0");
    w.end_message(message);
    w.done();
    CHECK(parse({w.bytes}) == std::errc::interrupted);
  }
}

TEST_CASE("dump: cut short anywhere is bad_message, never a crash") {
  const Bytes full = single_message_dump();
  for (std::size_t length = 0; length < full.size(); ++length) {
    CAPTURE(length);
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    // Taken through a heap copy of exactly `length` bytes, so a sanitizer build sees any
    // read past the end.
    CHECK(parse({cut}) == std::errc::bad_message);
  }
  CHECK(parse({}) == std::errc::bad_message);
}

TEST_CASE("dump: wrong attribute lengths and contents are bad_message") {
  // One peer whose body is written by `body`, in an otherwise valid dump.
  auto dump_with_peer = [](auto body) {
    NetlinkWriter w;
    const std::size_t message = begin_device_message(w, true);
    const std::size_t peers = w.begin_nest(WGDEVICE_A_PEERS);
    const std::size_t peer = w.begin_nest(0);
    body(w);
    w.end_nest(peer);
    w.end_nest(peers);
    w.end_message(message);
    w.done();
    return w.bytes;
  };
  auto with_key = [&](auto rest) {
    return dump_with_peer([&](NetlinkWriter& w) {
      w.key(WGPEER_A_PUBLIC_KEY, key_of(0xa1));
      rest(w);
    });
  };
  auto one_allowed_ip = [&](auto fields) {
    return with_key([&](NetlinkWriter& w) {
      const std::size_t ips = w.begin_nest(WGPEER_A_ALLOWEDIPS);
      const std::size_t entry = w.begin_nest(0);
      fields(w);
      w.end_nest(entry);
      w.end_nest(ips);
    });
  };

  SUBCASE("the fixture itself is fine") {
    CHECK(parse({with_key([](NetlinkWriter&) {})}) == std::error_code());
  }
  SUBCASE("a public key of 31 bytes") {
    const Key key = key_of(1);
    CHECK(parse({dump_with_peer([&](NetlinkWriter& w) {
            w.attribute(WGPEER_A_PUBLIC_KEY, key.data(), 31);
          })}) == std::errc::bad_message);
  }
  SUBCASE("a peer without a public key") {
    CHECK(parse({dump_with_peer([](NetlinkWriter& w) {
            w.u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
          })}) == std::errc::bad_message);
  }
  SUBCASE("a keepalive of 4 bytes") {
    CHECK(parse({with_key([](NetlinkWriter& w) {
            w.u32(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
          })}) == std::errc::bad_message);
  }
  SUBCASE("rx bytes of 4 bytes") {
    CHECK(parse({with_key([](NetlinkWriter& w) { w.u32(WGPEER_A_RX_BYTES, 1); })}) ==
          std::errc::bad_message);
  }
  SUBCASE("a handshake time of 8 bytes") {
    CHECK(parse({with_key([](NetlinkWriter& w) { w.u64(WGPEER_A_LAST_HANDSHAKE_TIME, 1); })}) ==
          std::errc::bad_message);
  }
  SUBCASE("an IPv4 endpoint one byte short") {
    CHECK(parse({with_key([](NetlinkWriter& w) {
            sockaddr_in sin{};
            sin.sin_family = AF_INET;
            w.attribute(WGPEER_A_ENDPOINT, &sin, sizeof sin - 1);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an endpoint of the IPv6 family with an IPv4 length") {
    CHECK(parse({with_key([](NetlinkWriter& w) {
            sockaddr_in sin{};
            sin.sin_family = AF_INET6;
            w.attribute(WGPEER_A_ENDPOINT, &sin, sizeof sin);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an endpoint of one byte") {
    CHECK(parse({with_key([](NetlinkWriter& w) {
            const std::uint8_t byte = AF_INET;
            w.attribute(WGPEER_A_ENDPOINT, &byte, 1);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an IPv4 allowed IP with 16 address bytes") {
    CHECK(parse({one_allowed_ip([](NetlinkWriter& w) {
            const in6_addr address{};
            w.u16(WGALLOWEDIP_A_FAMILY, AF_INET);
            w.attribute(WGALLOWEDIP_A_IPADDR, &address, sizeof address);
            w.u8(WGALLOWEDIP_A_CIDR_MASK, 24);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an IPv4 allowed IP with prefix 33") {
    CHECK(parse({one_allowed_ip([](NetlinkWriter& w) {
            const in_addr address{};
            w.u16(WGALLOWEDIP_A_FAMILY, AF_INET);
            w.attribute(WGALLOWEDIP_A_IPADDR, &address, sizeof address);
            w.u8(WGALLOWEDIP_A_CIDR_MASK, 33);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an allowed IP without its prefix") {
    CHECK(parse({one_allowed_ip([](NetlinkWriter& w) {
            const in_addr address{};
            w.u16(WGALLOWEDIP_A_FAMILY, AF_INET);
            w.attribute(WGALLOWEDIP_A_IPADDR, &address, sizeof address);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an allowed IP family of 1 byte") {
    CHECK(parse({one_allowed_ip([](NetlinkWriter& w) {
            const in_addr address{};
            w.u8(WGALLOWEDIP_A_FAMILY, AF_INET);
            w.attribute(WGALLOWEDIP_A_IPADDR, &address, sizeof address);
            w.u8(WGALLOWEDIP_A_CIDR_MASK, 8);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an allowed IP of an unknown family") {
    CHECK(parse({one_allowed_ip([](NetlinkWriter& w) {
            const in_addr address{};
            w.u16(WGALLOWEDIP_A_FAMILY, 99);
            w.attribute(WGALLOWEDIP_A_IPADDR, &address, sizeof address);
            w.u8(WGALLOWEDIP_A_CIDR_MASK, 8);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an attribute claiming more than its nest holds") {
    CHECK(parse({with_key([](NetlinkWriter& w) {
            w.put_u16(200);  // nla_len far past the end of the peer
            w.put_u16(WGPEER_A_RX_BYTES);
          })}) == std::errc::bad_message);
  }
  SUBCASE("an attribute shorter than its own header") {
    CHECK(parse({with_key([](NetlinkWriter& w) {
            w.put_u16(2);
            w.put_u16(WGPEER_A_RX_BYTES);
          })}) == std::errc::bad_message);
  }
  SUBCASE("a device listen port of 4 bytes") {
    NetlinkWriter w;
    const std::size_t message = w.begin_message(kFamilyId, NLM_F_MULTI);
    w.genl_header(WG_CMD_GET_DEVICE);
    w.u32(WGDEVICE_A_LISTEN_PORT, 51820);
    w.end_message(message);
    w.done();
    CHECK(parse({w.bytes}) == std::errc::bad_message);
  }
  SUBCASE("a message too short for its genetlink header") {
    NetlinkWriter w;
    const std::size_t message = w.begin_message(kFamilyId, NLM_F_MULTI);
    w.end_message(message);
    w.done();
    CHECK(parse({w.bytes}) == std::errc::bad_message);
  }
  SUBCASE("NLMSG_DONE without its error code") {
    NetlinkWriter w;
    const std::size_t message = w.begin_message(NLMSG_DONE, NLM_F_MULTI);
    w.end_message(message);
    CHECK(parse({w.bytes}) == std::errc::bad_message);
  }
  SUBCASE("a message length past the datagram") {
    Bytes bytes = single_message_dump();
    const std::uint32_t too_long = static_cast<std::uint32_t>(bytes.size() + 4);
    std::memcpy(bytes.data(), &too_long, 4);
    CHECK(parse({bytes}) == std::errc::bad_message);
  }
}

TEST_CASE("dump: pseudo-random garbage never parses and never crashes") {
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<std::uint8_t>(state >> 24);
  };
  const Bytes valid = single_message_dump();
  for (int round = 0; round < 2000; ++round) {
    Bytes bytes = valid;
    // Flip a few bytes of a valid dump (more likely to reach deep code than pure noise),
    // but leave the NLMSG_DONE alone or a success would be legitimate.
    for (int flips = 0; flips < 3; ++flips) {
      bytes[next() * (valid.size() - 20) / 256] = next();
    }
    WgDevice device;
    (void)parse({bytes}, device);  // may succeed or fail; must not read out of bounds
  }
  for (int round = 0; round < 500; ++round) {
    Bytes noise(next() + 1u);
    for (auto& byte : noise) {
      byte = next();
    }
    CHECK(parse({noise}) != std::error_code());
  }
}

// ---- SET ------------------------------------------------------------------------------

TEST_CASE("set: device attributes, a changed peer, a removed peer, a keepalive-only peer") {
  WgChange change;
  change.private_key = key_of(0x11);
  change.listen_port = 51820;
  PeerChange changed;
  changed.public_key = key_of(0xa1);
  changed.allowed_ips = std::vector<Cidr>{cidr("10.0.0.0/24"), cidr("fd00::/64")};
  changed.keepalive_seconds = 25;
  PeerChange removed;
  removed.public_key = key_of(0xb2);
  removed.remove = true;
  removed.allowed_ips = std::vector<Cidr>{cidr("10.9.0.0/16")};  // ignored: it goes
  removed.keepalive_seconds = 5;                                 // ignored too
  PeerChange keepalive_only;
  keepalive_only.public_key = key_of(0xc3);
  keepalive_only.keepalive_seconds = 0;
  change.peers = {changed, removed, keepalive_only};

  const auto messages = genl_set_messages(kFamilyId, "wg0", change, 100);
  REQUIRE(messages.size() == 1);
  SentMessage sent = read_set_message(messages[0]);
  CHECK(sent.request.seq == 100);
  CHECK(as<Key>(sent.device[WGDEVICE_A_PRIVATE_KEY]) == key_of(0x11));
  CHECK(as<std::uint16_t>(sent.device[WGDEVICE_A_LISTEN_PORT]) == 51820);
  REQUIRE(sent.peers.size() == 3);

  CHECK(sent.peers[0].public_key == key_of(0xa1));
  CHECK(sent.peers[0].flags == WGPEER_F_REPLACE_ALLOWEDIPS);
  CHECK(sent.peers[0].keepalive == 25);
  CHECK(sent.peers[0].allowed_ips == std::vector<Cidr>{cidr("10.0.0.0/24"), cidr("fd00::/64")});

  CHECK(sent.peers[1].public_key == key_of(0xb2));
  CHECK(sent.peers[1].flags == WGPEER_F_REMOVE_ME);
  CHECK_FALSE(sent.peers[1].keepalive);
  CHECK_FALSE(sent.peers[1].allowed_ips);

  CHECK(sent.peers[2].public_key == key_of(0xc3));
  CHECK_FALSE(sent.peers[2].flags);  // allowed IPs untouched
  CHECK(sent.peers[2].keepalive == 0);
  CHECK_FALSE(sent.peers[2].allowed_ips);
}

TEST_CASE("set: a removal alone carries WGPEER_F_REMOVE_ME and nothing else") {
  WgChange change;
  PeerChange removed;
  removed.public_key = key_of(0xb2);
  removed.remove = true;
  change.peers = {removed};
  const auto messages = genl_set_messages(kFamilyId, "wg0", change, 1);
  REQUIRE(messages.size() == 1);
  SentMessage sent = read_set_message(messages[0]);
  CHECK(sent.device.count(WGDEVICE_A_PRIVATE_KEY) == 0);
  CHECK(sent.device.count(WGDEVICE_A_LISTEN_PORT) == 0);
  REQUIRE(sent.peers.size() == 1);
  CHECK(sent.peers[0].flags == WGPEER_F_REMOVE_ME);
  CHECK_FALSE(sent.peers[0].allowed_ips);
  CHECK_FALSE(sent.peers[0].keepalive);
}

TEST_CASE("set: an empty allowed-IP list clears the peer's list") {
  WgChange change;
  PeerChange cleared;
  cleared.public_key = key_of(0xa1);
  cleared.allowed_ips = std::vector<Cidr>{};
  change.peers = {cleared};
  const auto messages = genl_set_messages(kFamilyId, "wg0", change, 1);
  REQUIRE(messages.size() == 1);
  const SentMessage sent = read_set_message(messages[0]);
  REQUIRE(sent.peers.size() == 1);
  CHECK(sent.peers[0].flags == WGPEER_F_REPLACE_ALLOWEDIPS);
  CHECK((!sent.peers[0].allowed_ips || sent.peers[0].allowed_ips->empty()));
}

TEST_CASE("set: an empty change sends nothing; a device-only change one message") {
  CHECK(genl_set_messages(kFamilyId, "wg0", WgChange{}, 1).empty());
  WgChange port_only;
  port_only.listen_port = 1234;
  const auto messages = genl_set_messages(kFamilyId, "wg0", port_only, 1);
  REQUIRE(messages.size() == 1);
  SentMessage sent = read_set_message(messages[0]);
  CHECK(as<std::uint16_t>(sent.device[WGDEVICE_A_LISTEN_PORT]) == 1234);
  CHECK(sent.device.count(WGDEVICE_A_PEERS) == 0);
}

namespace {

std::vector<Cidr> many_cidrs(int count) {
  std::vector<Cidr> cidrs;
  for (int i = 0; i < count; ++i) {
    if (i % 3 == 2) {
      cidrs.push_back(cidr(("fd00:" + std::to_string(i) + "::/64").c_str()));
    } else {
      cidrs.push_back(cidr(
          ("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24").c_str()));
    }
  }
  return cidrs;
}

// Checks the split of `change` at `max_message` against the rules in genl.hpp and returns
// how many messages it took.
std::size_t check_split(const WgChange& change, std::size_t max_message,
                        std::size_t expected_limit) {
  const auto messages = genl_set_messages(kFamilyId, "wg0", change, 40, max_message);
  REQUIRE_FALSE(messages.empty());

  std::map<Key, std::vector<Cidr>> sent_ips;
  std::map<Key, int> chunks;
  std::map<Key, int> flagged_chunks;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    CAPTURE(i);
    CHECK(messages[i].size() <= expected_limit);
    SentMessage sent = read_set_message(messages[i]);
    CHECK(sent.request.seq == 40 + i);
    CHECK(sent.device.count(WGDEVICE_A_PRIVATE_KEY) == (i == 0 && change.private_key ? 1u : 0u));
    CHECK(sent.device.count(WGDEVICE_A_LISTEN_PORT) == (i == 0 && change.listen_port ? 1u : 0u));
    CHECK_FALSE(sent.peers.empty());
    for (const SentPeer& peer : sent.peers) {
      const bool first_chunk = chunks[peer.public_key]++ == 0;
      if (!first_chunk) {
        CHECK_FALSE(peer.flags);  // REPLACE_ALLOWEDIPS again would empty the list again
        CHECK_FALSE(peer.keepalive);
        REQUIRE(peer.allowed_ips);
        CHECK_FALSE(peer.allowed_ips->empty());
      }
      if (peer.flags && (*peer.flags & WGPEER_F_REPLACE_ALLOWEDIPS) != 0) {
        ++flagged_chunks[peer.public_key];
      }
      if (peer.allowed_ips) {
        auto& all = sent_ips[peer.public_key];
        all.insert(all.end(), peer.allowed_ips->begin(), peer.allowed_ips->end());
      }
    }
  }
  for (const PeerChange& peer : change.peers) {
    CHECK(flagged_chunks[peer.public_key] == (peer.allowed_ips ? 1 : 0));
    // Every allowed IP exactly once, in order.
    CHECK(sent_ips[peer.public_key] == peer.allowed_ips.value_or(std::vector<Cidr>{}));
  }
  return messages.size();
}

}  // namespace

TEST_CASE("set: 300 allowed IPs split across messages, REPLACE_ALLOWEDIPS only on the first") {
  WgChange change;
  change.private_key = key_of(0x11);
  change.listen_port = 51820;
  PeerChange before;
  before.public_key = key_of(0x01);
  before.allowed_ips = std::vector<Cidr>{cidr("192.168.1.0/24")};
  PeerChange big;
  big.public_key = key_of(0xa1);
  big.allowed_ips = many_cidrs(300);
  big.keepalive_seconds = 25;
  PeerChange after;
  after.public_key = key_of(0x02);
  after.allowed_ips = std::vector<Cidr>{cidr("192.168.2.0/24"), cidr("fd02::/64")};
  change.peers = {before, big, after};

  // 300 entries of 28 or 40 bytes are about 10 KB: at least three 4 KiB messages.
  CHECK(check_split(change, 4096, 4096) >= 3);
  CHECK(check_split(change, 1024, 1024) >= 10);
  // The default limit is a page.
  for (const auto& message : genl_set_messages(kFamilyId, "wg0", change, 1)) {
    CHECK(message.size() <= kGenlDefaultMessageSize);
  }
}

TEST_CASE("set: a limit too small for anything is raised, and every IP still goes exactly once") {
  WgChange change;
  change.private_key = key_of(0x11);
  change.listen_port = 51820;
  PeerChange big;
  big.public_key = key_of(0xa1);
  big.allowed_ips = many_cidrs(20);
  big.keepalive_seconds = 25;
  change.peers = {big};
  // Each message then holds the device attributes or one peer's header and one IP at least.
  CHECK(check_split(change, 0, 256) >= 5);
}

// ---- GET request and the family -------------------------------------------------------

TEST_CASE("get request: a dump of WG_CMD_GET_DEVICE by name") {
  const Request request = read_request(genl_get_request(kFamilyId, "wg-ot", 9));
  CHECK(request.type == kFamilyId);
  CHECK(request.flags == (NLM_F_REQUEST | NLM_F_DUMP));
  CHECK(request.seq == 9);
  CHECK(request.command == WG_CMD_GET_DEVICE);
  CHECK(request.version == WG_GENL_VERSION);
  REQUIRE(request.attributes.size() == 1);
  CHECK(request.attributes[0].type == WGDEVICE_A_IFNAME);
  const Bytes& name = request.attributes[0].payload;
  CHECK(std::string(name.begin(), name.end()) == std::string("wg-ot", 6));
}

TEST_CASE("family: CTRL_CMD_GETFAMILY for \"wireguard\" and its reply") {
  const Request request = read_request(genl_family_request(3));
  CHECK(request.type == GENL_ID_CTRL);
  CHECK((request.flags & NLM_F_REQUEST) != 0);
  CHECK(request.seq == 3);
  CHECK(request.command == CTRL_CMD_GETFAMILY);
  REQUIRE(request.attributes.size() == 1);
  CHECK(request.attributes[0].type == CTRL_ATTR_FAMILY_NAME);
  const Bytes& name = request.attributes[0].payload;
  CHECK(std::string(name.begin(), name.end()) == std::string("wireguard", 10));

  SUBCASE("the family id") {
    NetlinkWriter w;
    const std::size_t message = w.begin_message(GENL_ID_CTRL, 0, 3);
    w.genl_header(CTRL_CMD_NEWFAMILY, 2);
    w.string(CTRL_ATTR_FAMILY_NAME, "wireguard");
    w.u16(CTRL_ATTR_FAMILY_ID, 0x22);
    w.u32(CTRL_ATTR_VERSION, 1);
    const std::size_t ops = w.begin_nest(CTRL_ATTR_OPS);
    const std::size_t op = w.begin_nest(1);
    w.u32(CTRL_ATTR_OP_ID, WG_CMD_GET_DEVICE);
    w.end_nest(op);
    w.end_nest(ops);
    w.end_message(message);
    std::uint16_t family_id = 0;
    REQUIRE(parse_genl_family_reply(w.bytes, family_id) == std::error_code());
    CHECK(family_id == 0x22);
  }
  SUBCASE("module not loaded: ENOENT") {
    NetlinkWriter w;
    w.error(-ENOENT);
    std::uint16_t family_id = 0;
    CHECK(parse_genl_family_reply(w.bytes, family_id) ==
          std::error_code(ENOENT, std::system_category()));
  }
  SUBCASE("a family id of 4 bytes, or none") {
    NetlinkWriter w;
    const std::size_t message = w.begin_message(GENL_ID_CTRL, 0, 3);
    w.genl_header(CTRL_CMD_NEWFAMILY, 2);
    w.u32(CTRL_ATTR_FAMILY_ID, 0x22);
    w.end_message(message);
    std::uint16_t family_id = 0;
    CHECK(parse_genl_family_reply(w.bytes, family_id) == std::errc::bad_message);
    CHECK(parse_genl_family_reply({}, family_id) == std::errc::bad_message);
  }
}
