#include "daemon/vpn/plan.hpp"

#include <algorithm>
#include <map>

namespace sekisho::vpn {

DesiredDevice desired_device(const policy::Vpn& vpn, const Key& private_key) {
  DesiredDevice device;
  device.private_key = private_key;
  device.listen_port = vpn.listen_port;
  for (const policy::VpnPeer& peer : vpn.peers) {
    auto public_key = key_from_base64(peer.public_key);
    if (!public_key) {
      continue;  // cannot happen for a checked policy
    }
    DesiredPeer desired;
    desired.name = peer.name;
    desired.public_key = *public_key;
    for (const policy::IpAddress& address : peer.addresses) {
      desired.allowed_ips.push_back(policy::host_cidr(address));
    }
    std::sort(desired.allowed_ips.begin(), desired.allowed_ips.end());
    desired.keepalive_seconds = static_cast<std::uint16_t>(peer.keepalive_seconds.value_or(0));
    device.peers.push_back(std::move(desired));
  }
  return device;
}

const char* to_string(PeerEvent::Kind kind) {
  switch (kind) {
    case PeerEvent::Kind::Added:
      return "added";
    case PeerEvent::Kind::Removed:
      return "removed";
    case PeerEvent::Kind::Changed:
      return "changed";
  }
  return "?";
}

Plan plan_device(const DesiredDevice& desired, const WgDevice& actual) {
  Plan plan;
  if (actual.private_key != desired.private_key) {
    plan.change.private_key = desired.private_key;
    plan.key_changed = true;
  }
  if (actual.listen_port != desired.listen_port) {
    plan.change.listen_port = desired.listen_port;
    plan.port_changed = true;
  }
  std::map<Key, const WgPeer*> present;
  for (const WgPeer& peer : actual.peers) {
    present[peer.public_key] = &peer;
  }
  for (const DesiredPeer& want : desired.peers) {
    PeerChange change;
    change.public_key = want.public_key;
    PeerEvent event{PeerEvent::Kind::Added, want.name, want.public_key, {}};
    auto found = present.find(want.public_key);
    if (found == present.end()) {
      change.allowed_ips = want.allowed_ips;
      change.keepalive_seconds = want.keepalive_seconds;
    } else {
      const WgPeer& have = *found->second;
      present.erase(found);
      std::vector<policy::Cidr> allowed = have.allowed_ips;
      std::sort(allowed.begin(), allowed.end());
      if (allowed != want.allowed_ips) {
        change.allowed_ips = want.allowed_ips;
        event.what.push_back("allowed_ips");
      }
      if (have.keepalive_seconds != want.keepalive_seconds) {
        change.keepalive_seconds = want.keepalive_seconds;
        event.what.push_back("keepalive");
      }
      if (event.what.empty()) {
        continue;  // as declared: not touched
      }
      event.kind = PeerEvent::Kind::Changed;
    }
    plan.change.peers.push_back(std::move(change));
    plan.events.push_back(std::move(event));
  }
  // What is left is not in the policy (any more): removed, whoever added it.
  for (const auto& [public_key, peer] : present) {
    PeerChange change;
    change.public_key = public_key;
    change.remove = true;
    plan.change.peers.push_back(std::move(change));
    plan.events.push_back(PeerEvent{PeerEvent::Kind::Removed, "", public_key, {}});
  }
  return plan;
}

}  // namespace sekisho::vpn
