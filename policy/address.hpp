#pragma once
// IPv4/IPv6 addresses, prefixes and MAC addresses as plain values. Parsing is strict
// (no "010.1.1.1", no host bits under a prefix) because what the engineer wrote is what
// the kernel will enforce.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sekisho::policy {

enum class Family { V4, V6 };

struct IpAddress {
  Family family = Family::V4;
  std::array<std::uint8_t, 16> bytes{};  // V4 uses the first 4

  int bits() const { return family == Family::V4 ? 32 : 128; }
  std::string to_string() const;
  auto operator<=>(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress network;  // host bits are zero
  int prefix = 0;

  bool contains(const IpAddress& address) const;
  IpAddress last() const;  // the highest address of the prefix
  bool contains(const Cidr& other) const;
  std::string to_string() const;
  auto operator<=>(const Cidr&) const = default;
};

struct MacAddress {
  std::array<std::uint8_t, 6> bytes{};
  std::string to_string() const;
  auto operator<=>(const MacAddress&) const = default;
};

std::optional<IpAddress> parse_ip(std::string_view text);

// "a.b.c.d/n" or "x::/n". Host bits must be zero: `error` says why when nullopt.
std::optional<Cidr> parse_cidr(std::string_view text, std::string* error = nullptr);

// An interface address "a.b.c.d/n": the address and its prefix (host bits allowed).
struct InterfaceAddress {
  IpAddress address;
  int prefix = 0;
  Cidr network() const;
};
std::optional<InterfaceAddress> parse_interface_address(std::string_view text);

// "00:1d:9c:c8:12:01" (either case). Multicast and all-zero addresses are refused: a host
// binding must name one real interface.
std::optional<MacAddress> parse_mac(std::string_view text, std::string* error = nullptr);

Cidr host_cidr(const IpAddress& address);
Cidr mask(const IpAddress& address, int prefix);

}  // namespace sekisho::policy
