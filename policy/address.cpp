#include "policy/address.hpp"

#include <charconv>
#include <cstdio>

#include <arpa/inet.h>

namespace sekisho::policy {

namespace {

bool prefix_matches(const IpAddress& network, int prefix, const IpAddress& address) {
  if (network.family != address.family) {
    return false;
  }
  int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (network.bytes[i] != address.bytes[i]) {
      return false;
    }
  }
  int rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  auto keep = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (network.bytes[full] & keep) == (address.bytes[full] & keep);
}

std::optional<int> parse_prefix(std::string_view text, int max) {
  if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::V4 ? AF_INET : AF_INET6, bytes.data(), buffer, sizeof buffer);
  return buffer;
}

bool Cidr::contains(const IpAddress& address) const {
  return prefix_matches(network, prefix, address);
}

bool Cidr::contains(const Cidr& other) const {
  return other.prefix >= prefix && prefix_matches(network, prefix, other.network);
}

IpAddress Cidr::last() const {
  IpAddress last = network;
  for (int bit = prefix; bit < last.bits(); ++bit) {
    last.bytes[static_cast<std::size_t>(bit / 8)] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  }
  return last;
}

std::string Cidr::to_string() const {
  return network.to_string() + '/' + std::to_string(prefix);
}

std::string MacAddress::to_string() const {
  char buffer[18];
  std::snprintf(buffer, sizeof buffer, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1],
                bytes[2], bytes[3], bytes[4], bytes[5]);
  return buffer;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  std::string copy(text);
  IpAddress address;
  if (copy.find(':') == std::string::npos) {
    // inet_pton(AF_INET) already refuses "010.1.1.1" style octal and short forms.
    if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) != 1) {
      return std::nullopt;
    }
    address.family = Family::V4;
    return address;
  }
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) {
    return std::nullopt;
  }
  address.family = Family::V6;
  return address;
}

Cidr mask(const IpAddress& address, int prefix) {
  Cidr cidr{address, prefix};
  for (int bit = prefix; bit < address.bits(); ++bit) {
    cidr.network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  return cidr;
}

Cidr host_cidr(const IpAddress& address) {
  return Cidr{address, address.bits()};
}

std::optional<InterfaceAddress> parse_interface_address(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  auto address = parse_ip(text.substr(0, slash));
  if (!address) {
    return std::nullopt;
  }
  auto prefix = parse_prefix(text.substr(slash + 1), address->bits());
  if (!prefix) {
    return std::nullopt;
  }
  return InterfaceAddress{*address, *prefix};
}

Cidr InterfaceAddress::network() const {
  return mask(address, prefix);
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string* error) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    auto address = parse_ip(text);
    if (!address) {
      if (error)
        *error = "not an IPv4 or IPv6 address or prefix";
      return std::nullopt;
    }
    return host_cidr(*address);
  }
  auto parsed = parse_interface_address(text);
  if (!parsed) {
    if (error)
      *error = "not an address/prefix such as 192.0.2.0/24 or 2001:db8::/32";
    return std::nullopt;
  }
  Cidr network = parsed->network();
  if (network.network != parsed->address) {
    if (error)
      *error = "host bits are set; the network is " + network.to_string();
    return std::nullopt;
  }
  return network;
}

std::optional<MacAddress> parse_mac(std::string_view text, std::string* error) {
  MacAddress mac;
  if (text.size() != 17) {
    if (error)
      *error = "a MAC address is six hex pairs separated by ':'";
    return std::nullopt;
  }
  for (int i = 0; i < 6; ++i) {
    std::string_view pair = text.substr(static_cast<std::size_t>(i) * 3, 2);
    if (i < 5 && text[static_cast<std::size_t>(i) * 3 + 2] != ':') {
      if (error)
        *error = "a MAC address is six hex pairs separated by ':'";
      return std::nullopt;
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(pair.data(), pair.data() + 2, value, 16);
    if (ec != std::errc() || end != pair.data() + 2) {
      if (error)
        *error = "'" + std::string(pair) + "' is not a hex pair";
      return std::nullopt;
    }
    mac.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value);
  }
  if (mac.bytes[0] & 0x01) {
    if (error)
      *error = "a multicast or broadcast MAC cannot be bound to a host";
    return std::nullopt;
  }
  if (mac == MacAddress{}) {
    if (error)
      *error = "the all-zero MAC cannot be bound to a host";
    return std::nullopt;
  }
  return mac;
}

}  // namespace sekisho::policy
