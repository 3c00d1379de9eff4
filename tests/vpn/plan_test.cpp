// From the policy's vpn to the WireGuard device: only what differs is changed, so a reload
// that touches one peer leaves the others' handshakes and sessions alone.
#include "daemon/vpn/plan.hpp"

#include <algorithm>
#include <ostream>  // doctest prints std::error_code through it

#include <doctest/doctest.h>

#include "tests/vpn/test_keys.hpp"

using namespace sekisho;
using namespace sekisho::vpn;
using sekisho::vpn::testing::key_of;

namespace {

policy::VpnPeer peer(const std::string& name, unsigned char fill, const std::string& address,
                     std::optional<std::int64_t> keepalive = std::nullopt) {
  policy::VpnPeer out;
  out.name = name;
  out.public_key = key_to_base64(key_of(fill));
  out.addresses.push_back(*policy::parse_ip(address));
  out.keepalive_seconds = keepalive;
  return out;
}

policy::Vpn vpn_with(std::vector<policy::VpnPeer> peers) {
  policy::Vpn vpn;
  vpn.name = "maint";
  vpn.listen_port = 51820;
  vpn.peers = std::move(peers);
  return vpn;
}

// The device as it would be after `desired` was applied in full.
WgDevice device_as(const DesiredDevice& desired) {
  WgDevice device;
  device.private_key = desired.private_key;
  device.listen_port = desired.listen_port;
  for (const DesiredPeer& want : desired.peers) {
    WgPeer have;
    have.public_key = want.public_key;
    have.allowed_ips = want.allowed_ips;
    have.keepalive_seconds = want.keepalive_seconds;
    have.rx_bytes = 4711;  // status never counts as a difference
    device.peers.push_back(have);
  }
  return device;
}

}  // namespace

TEST_CASE("a new device gets key, port and every peer with exactly its address") {
  policy::Vpn vpn = vpn_with(
      {peer("vendor-a", 0xa1, "198.18.99.2", 25), peer("vendor-b", 0xb2, "2001:db8:99::3")});
  DesiredDevice desired = desired_device(vpn, key_of(0x01));
  Plan plan = plan_device(desired, WgDevice{});
  CHECK(plan.change.private_key == key_of(0x01));
  CHECK(plan.change.listen_port == 51820);
  REQUIRE(plan.change.peers.size() == 2);
  CHECK(plan.change.peers[0].public_key == key_of(0xa1));
  CHECK(plan.change.peers[0].allowed_ips->front().to_string() == "198.18.99.2/32");
  CHECK(plan.change.peers[0].keepalive_seconds == 25);
  CHECK(plan.change.peers[1].allowed_ips->front().to_string() == "2001:db8:99::3/128");
  CHECK(plan.change.peers[1].keepalive_seconds == 0);
  REQUIRE(plan.events.size() == 2);
  CHECK(plan.events[0].kind == PeerEvent::Kind::Added);
  CHECK(plan.events[0].name == "vendor-a");
}

TEST_CASE("a device that matches the policy needs no change") {
  policy::Vpn vpn = vpn_with({peer("vendor-a", 0xa1, "198.18.99.2", 25)});
  DesiredDevice desired = desired_device(vpn, key_of(0x01));
  Plan plan = plan_device(desired, device_as(desired));
  CHECK(plan.change.empty());
  CHECK(plan.events.empty());
}

TEST_CASE("adding, changing and removing peers names only those peers") {
  DesiredDevice before = desired_device(
      vpn_with({peer("keep", 0x11, "198.18.99.2"), peer("change", 0x22, "198.18.99.3"),
                peer("drop", 0x33, "198.18.99.4")}),
      key_of(0x01));
  DesiredDevice after = desired_device(
      vpn_with({peer("keep", 0x11, "198.18.99.2"), peer("change", 0x22, "198.18.99.9", 15),
                peer("new", 0x44, "198.18.99.5")}),
      key_of(0x01));
  Plan plan = plan_device(after, device_as(before));
  CHECK_FALSE(plan.change.private_key);
  CHECK_FALSE(plan.change.listen_port);
  auto named = [&](unsigned char fill) {
    return std::find_if(
        plan.change.peers.begin(), plan.change.peers.end(),
        [&](const PeerChange& change) { return change.public_key == key_of(fill); });
  };
  CHECK(named(0x11) == plan.change.peers.end());  // untouched: its session goes on
  REQUIRE(named(0x22) != plan.change.peers.end());
  CHECK(named(0x22)->allowed_ips->front().to_string() == "198.18.99.9/32");
  CHECK(named(0x22)->keepalive_seconds == 15);
  REQUIRE(named(0x33) != plan.change.peers.end());
  CHECK(named(0x33)->remove);
  CHECK_FALSE(named(0x33)->allowed_ips);
  REQUIRE(named(0x44) != plan.change.peers.end());
  CHECK_FALSE(named(0x44)->remove);
  REQUIRE(plan.events.size() == 3);
  auto event = [&](PeerEvent::Kind kind) {
    return std::find_if(plan.events.begin(), plan.events.end(),
                        [&](const PeerEvent& e) { return e.kind == kind; });
  };
  CHECK(event(PeerEvent::Kind::Changed)->name == "change");
  CHECK(event(PeerEvent::Kind::Changed)->what ==
        std::vector<std::string>{"allowed_ips", "keepalive"});
  CHECK(event(PeerEvent::Kind::Added)->name == "new");
  CHECK(event(PeerEvent::Kind::Removed)->public_key == key_of(0x33));
}

TEST_CASE("drift: a peer someone added by hand is removed, a widened one narrowed") {
  DesiredDevice desired =
      desired_device(vpn_with({peer("vendor-a", 0xa1, "198.18.99.2")}), key_of(0x01));
  WgDevice actual = device_as(desired);
  actual.peers[0].allowed_ips.push_back(*policy::parse_cidr("192.0.2.0/24"));
  WgPeer stranger;
  stranger.public_key = key_of(0xee);
  stranger.allowed_ips = {*policy::parse_cidr("0.0.0.0/0")};
  actual.peers.push_back(stranger);
  actual.listen_port = 1234;
  actual.private_key = key_of(0x02);
  Plan plan = plan_device(desired, actual);
  CHECK(plan.key_changed);
  CHECK(plan.port_changed);
  REQUIRE(plan.change.peers.size() == 2);
  CHECK(plan.change.peers[0].allowed_ips->size() == 1);
  CHECK(plan.change.peers[1].public_key == key_of(0xee));
  CHECK(plan.change.peers[1].remove);
}

TEST_CASE("allowed IPs in another order are the same allowed IPs") {
  policy::VpnPeer two = peer("two", 0x55, "198.18.99.2");
  two.addresses.push_back(*policy::parse_ip("2001:db8:99::2"));
  DesiredDevice desired = desired_device(vpn_with({two}), key_of(0x01));
  WgDevice actual = device_as(desired);
  std::reverse(actual.peers[0].allowed_ips.begin(), actual.peers[0].allowed_ips.end());
  CHECK(plan_device(desired, actual).change.empty());
}
