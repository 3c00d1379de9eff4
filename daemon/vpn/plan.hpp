#pragma once
// What must change so that a WireGuard interface holds exactly what the policy declares:
// its private key, listen port and peers (allowed IPs = exactly the peer's tunnel
// addresses, keepalive where given). Pure: the daemon reads the device, plans, sets, and
// audits the plan's events.

#include <string>
#include <vector>

#include "daemon/vpn/wg_device.hpp"
#include "policy/model.hpp"

namespace sekisho::vpn {

struct DesiredPeer {
  std::string name;
  Key public_key{};
  std::vector<policy::Cidr> allowed_ips;  // sorted
  std::uint16_t keepalive_seconds = 0;
};

struct DesiredDevice {
  Key private_key{};
  std::uint16_t listen_port = 0;
  std::vector<DesiredPeer> peers;
};

// The device the policy's `vpn` declares, with the private key read from its key file.
// The peers' public keys were checked when the policy was loaded.
DesiredDevice desired_device(const policy::Vpn& vpn, const Key& private_key);

struct PeerEvent {
  enum class Kind { Added, Removed, Changed };
  Kind kind = Kind::Added;
  std::string name;  // the policy's name; empty for a key the policy does not know
  Key public_key{};
  std::vector<std::string> what;  // for Changed: "allowed_ips", "keepalive"
};
const char* to_string(PeerEvent::Kind kind);

struct Plan {
  WgChange change;
  std::vector<PeerEvent> events;
  bool key_changed = false;
  bool port_changed = false;
};

// The change from `actual` to `desired`. Peers that already match are not named in it, so
// their sessions are not disturbed.
Plan plan_device(const DesiredDevice& desired, const WgDevice& actual);

}  // namespace sekisho::vpn
