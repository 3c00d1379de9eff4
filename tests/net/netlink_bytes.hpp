#pragma once
// Netlink messages written byte by byte for the parser tests in tests/net, from the
// layouts in the kernel's uapi headers, never with daemon/net's own builders: an
// attribute tree, its bytes (host-order nlattr header, payload, zero padding to 4), and
// where each top-level attribute ends (to tell a cut between two attributes, which leaves
// a shorter valid message, from a cut inside one).

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/netlink.h>
#include <netinet/in.h>

namespace sekisho::testing {

using Bytes = std::vector<std::uint8_t>;

// One netlink attribute as a tree: a leaf holds its payload, a nest its children. The
// kernel's nla_nest_start sets NLA_F_NESTED, so nests here do too.
struct Attribute {
  std::uint16_t type = 0;
  Bytes payload;
  std::vector<Attribute> children;
  bool nest = false;
};

inline Attribute nest(std::uint16_t type, std::vector<Attribute> children) {
  return {type, {}, std::move(children), true};
}

inline Attribute raw(std::uint16_t type, Bytes payload) {
  return {type, std::move(payload), {}, false};
}

// Big-endian numbers (nla_put_be16/32/64 in the kernel).
inline Attribute be(std::uint16_t type, std::uint64_t value, int bytes) {
  Attribute leaf{type, {}, {}, false};
  for (int i = bytes - 1; i >= 0; --i) {
    leaf.payload.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  }
  return leaf;
}
inline Attribute u8(std::uint16_t type, std::uint8_t value) {
  return be(type, value, 1);
}
inline Attribute be16(std::uint16_t type, std::uint16_t value) {
  return be(type, value, 2);
}
inline Attribute be32(std::uint16_t type, std::uint32_t value) {
  return be(type, value, 4);
}
inline Attribute be64(std::uint16_t type, std::uint64_t value) {
  return be(type, value, 8);
}
// A string with its NUL (nla_put_string).
inline Attribute text(std::uint16_t type, const char* value) {
  const std::size_t length = std::strlen(value) + 1;
  return raw(type, Bytes(value, value + length));
}
inline Attribute address(std::uint16_t type, int family, const char* value) {
  Attribute leaf{type, Bytes(family == AF_INET ? 4 : 16), {}, false};
  REQUIRE(inet_pton(family, value, leaf.payload.data()) == 1);
  return leaf;
}

inline void put16(Bytes& out, std::uint16_t value) {
  out.insert(out.end(), {static_cast<std::uint8_t>(value), static_cast<std::uint8_t>(value >> 8)});
}

inline void write(const Attribute& attribute, Bytes& out) {
  const std::size_t start = out.size();
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(attribute.type | (attribute.nest ? NLA_F_NESTED : 0)));
  if (attribute.nest) {
    for (const Attribute& child : attribute.children) {
      write(child, out);
    }
  } else {
    out.insert(out.end(), attribute.payload.begin(), attribute.payload.end());
  }
  const auto length = static_cast<std::uint16_t>(out.size() - start);
  std::memcpy(out.data() + start, &length, 2);
  out.resize((out.size() + 3) / 4 * 4, 0);
}

struct Message {
  Bytes bytes;
  std::vector<std::size_t> boundaries;  // where each top-level attribute ends
};

// nlmsghdr (u32 length, u16 type, u16 flags, u32 seq, u32 port id), an nfnetlink header
// (u8 family, u8 version, be16 res_id), then the attributes.
inline Message nfnetlink_message(std::uint16_t type, std::uint16_t flags, std::uint8_t family,
                                 std::uint16_t res_id, const std::vector<Attribute>& attributes) {
  Message out;
  Bytes& bytes = out.bytes;
  bytes.resize(16, 0);
  std::memcpy(bytes.data() + 4, &type, 2);
  std::memcpy(bytes.data() + 6, &flags, 2);
  bytes.insert(bytes.end(), {family, 0, static_cast<std::uint8_t>(res_id >> 8),
                             static_cast<std::uint8_t>(res_id)});
  for (const Attribute& attribute : attributes) {
    write(attribute, bytes);
    out.boundaries.push_back(bytes.size());
  }
  const auto length = static_cast<std::uint32_t>(bytes.size());
  std::memcpy(bytes.data(), &length, 4);
  return out;
}

// The first `cut` bytes of a message, its header's length rewritten to say so (when the
// cut leaves the length field).
inline Bytes cut_message(const Bytes& whole, std::size_t cut) {
  Bytes bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
  if (cut >= 4) {
    const auto length = static_cast<std::uint32_t>(cut);
    std::memcpy(bytes.data(), &length, 4);
  }
  return bytes;
}

}  // namespace sekisho::testing
