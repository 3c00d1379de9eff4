#pragma once
// One WireGuard interface as either backend reports it and as sekishod changes it: the
// kernel's generic netlink family (genl.hpp) and wireguard-go's UAPI socket (uapi.hpp).
// Keys are 32 raw bytes here whatever the wire uses (genetlink: raw, UAPI: hex, policy
// files: base64).

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/vpn/keys.hpp"
#include "policy/address.hpp"

namespace sekisho::vpn {

struct Endpoint {
  policy::IpAddress address;
  std::uint16_t port = 0;
  // "a.b.c.d:port" or "[x::y]:port", as wg and the UAPI write it.
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

struct WgPeer {
  Key public_key{};
  std::optional<Endpoint> endpoint;
  std::vector<policy::Cidr> allowed_ips;
  std::uint16_t keepalive_seconds = 0;  // 0: off
  // Latest handshake (seconds since the epoch; 0: never) and traffic, read only.
  std::int64_t last_handshake_seconds = 0;
  std::int64_t last_handshake_nanoseconds = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
};

struct WgDevice {
  std::optional<Key> private_key;  // empty: none set
  std::uint16_t listen_port = 0;
  std::uint32_t fwmark = 0;
  std::vector<WgPeer> peers;
};

// A change to one peer. Peers not named in a WgChange are left alone, so changing one
// peer never disturbs the sessions of the others.
struct PeerChange {
  Key public_key{};
  bool remove = false;
  // When set, the peer's allowed IPs become exactly these (WireGuard briefly empties the
  // list while it is rebuilt, so the plan only sets it when it differs).
  std::optional<std::vector<policy::Cidr>> allowed_ips;
  std::optional<std::uint16_t> keepalive_seconds;
};

struct WgChange {
  std::optional<Key> private_key;
  std::optional<std::uint16_t> listen_port;
  std::vector<PeerChange> peers;

  bool empty() const { return !private_key && !listen_port && peers.empty(); }
};

// The way sekishod reads and changes one interface, whichever backend runs it.
class WgControl {
 public:
  virtual ~WgControl() = default;
  virtual std::error_code get(WgDevice& device) = 0;
  virtual std::error_code set(const WgChange& change) = 0;
};

}  // namespace sekisho::vpn
