// wireguard-go's UAPI text protocol: what sekishod sends and how it reads the answers.
// The live exchange with a real wireguard-go is in tests/lab/vpn.sh.
#include "daemon/vpn/uapi.hpp"

#include <ostream>  // doctest prints std::error_code through it

#include <doctest/doctest.h>

#include "tests/vpn/test_keys.hpp"

using namespace sekisho::vpn;
using sekisho::vpn::testing::key_of;

namespace {

const std::string kHex01(64, '0');
// 32 bytes of 0x01 as hex.
const std::string kOnes = "0101010101010101010101010101010101010101010101010101010101010101";

}  // namespace

TEST_CASE("a get answer with two peers is read field by field") {
  const std::string answer = "private_key=" + std::string(62, '0') +
                             "0a\n"
                             "listen_port=51820\n"
                             "fwmark=0\n"
                             "public_key=" +
                             std::string(64, 'b') +
                             "\n"
                             "preshared_key=" +
                             kHex01 +
                             "\n"
                             "protocol_version=1\n"
                             "endpoint=198.51.100.7:40001\n"
                             "last_handshake_time_sec=1764140000\n"
                             "last_handshake_time_nsec=250\n"
                             "tx_bytes=1184\n"
                             "rx_bytes=92\n"
                             "persistent_keepalive_interval=25\n"
                             "allowed_ip=198.18.99.2/32\n"
                             "allowed_ip=2001:db8:99::2/128\n"
                             "public_key=" +
                             std::string(64, 'c') +
                             "\n"
                             "endpoint=[2001:db8:1::7]:51000\n"
                             "last_handshake_time_sec=0\n"
                             "last_handshake_time_nsec=0\n"
                             "tx_bytes=0\n"
                             "rx_bytes=0\n"
                             "persistent_keepalive_interval=0\n"
                             "errno=0\n\n";
  WgDevice device;
  REQUIRE_FALSE(parse_uapi_get(answer, device));
  REQUIRE(device.private_key);
  CHECK((*device.private_key)[31] == 0x0a);
  CHECK(device.listen_port == 51820);
  REQUIRE(device.peers.size() == 2);
  const WgPeer& first = device.peers[0];
  CHECK(first.public_key == key_of(0xbb));
  REQUIRE(first.endpoint);
  CHECK(first.endpoint->to_string() == "198.51.100.7:40001");
  CHECK(first.last_handshake_seconds == 1764140000);
  CHECK(first.last_handshake_nanoseconds == 250);
  CHECK(first.tx_bytes == 1184);
  CHECK(first.rx_bytes == 92);
  CHECK(first.keepalive_seconds == 25);
  REQUIRE(first.allowed_ips.size() == 2);
  CHECK(first.allowed_ips[0].to_string() == "198.18.99.2/32");
  CHECK(first.allowed_ips[1].to_string() == "2001:db8:99::2/128");
  const WgPeer& second = device.peers[1];
  CHECK(second.public_key == key_of(0xcc));
  REQUIRE(second.endpoint);
  CHECK(second.endpoint->to_string() == "[2001:db8:1::7]:51000");
  CHECK(second.allowed_ips.empty());
}

TEST_CASE("a device with no key and no peers") {
  WgDevice device;
  device.listen_port = 9;
  REQUIRE_FALSE(parse_uapi_get("listen_port=0\nerrno=0\n\n", device));
  CHECK_FALSE(device.private_key);
  CHECK(device.listen_port == 0);
  CHECK(device.peers.empty());
}

TEST_CASE("answers that are not the protocol are bad messages, errno is passed on") {
  WgDevice device;
  CHECK(parse_uapi_get("", device) == std::errc::bad_message);
  CHECK(parse_uapi_get("\n\n", device) == std::errc::bad_message);
  CHECK(parse_uapi_get("errno=0\n", device) == std::errc::bad_message);  // not closed
  CHECK(parse_uapi_get("listen_port=x\nerrno=0\n\n", device) == std::errc::bad_message);
  CHECK(parse_uapi_get("listen_port=70000\nerrno=0\n\n", device) == std::errc::bad_message);
  CHECK(parse_uapi_get("public_key=abcd\nerrno=0\n\n", device) == std::errc::bad_message);
  CHECK(parse_uapi_get("garbage\nerrno=0\n\n", device) == std::errc::bad_message);
  CHECK(parse_uapi_get("public_key=" + kHex01 + "\nallowed_ip=10.0.0.1/33\nerrno=0\n\n", device) ==
        std::errc::bad_message);
  CHECK(parse_uapi_get("errno=13\n\n", device) == std::errc::permission_denied);
  WgDevice kept;
  kept.listen_port = 7;
  CHECK(parse_uapi_get("listen_port=51820\npublic_key=zz\nerrno=0\n\n", kept) ==
        std::errc::bad_message);
  CHECK(kept.listen_port == 7);  // a bad answer changes nothing
  CHECK(kept.peers.empty());
  CHECK_FALSE(parse_uapi_set_answer("errno=0\n\n"));
  CHECK(parse_uapi_set_answer("errno=22\n\n") == std::errc::invalid_argument);
  CHECK(parse_uapi_set_answer("errno=\n\n") == std::errc::bad_message);
  CHECK(parse_uapi_set_answer("") == std::errc::bad_message);
}

TEST_CASE("a set request names only the peers that change and never replaces them all") {
  WgChange change;
  change.private_key = key_of(0x01);
  change.listen_port = 51820;
  PeerChange add;
  add.public_key = key_of(0xbb);
  add.keepalive_seconds = 25;
  add.allowed_ips = std::vector{*sekisho::policy::parse_cidr("198.18.99.2/32")};
  PeerChange remove;
  remove.public_key = key_of(0xcc);
  remove.remove = true;
  change.peers = {add, remove};
  const std::string request = uapi_set_request(change);
  CHECK(request ==
        "set=1\n"
        "private_key=" +
            kOnes +
            "\n"
            "listen_port=51820\n"
            "public_key=" +
            std::string(64, 'b') +
            "\n"
            "persistent_keepalive_interval=25\n"
            "replace_allowed_ips=true\n"
            "allowed_ip=198.18.99.2/32\n"
            "public_key=" +
            std::string(64, 'c') +
            "\n"
            "remove=true\n"
            "\n");
  CHECK(request.find("replace_peers") == std::string::npos);
  CHECK(uapi_set_request(WgChange{}) == "set=1\n\n");
}

TEST_CASE("endpoints as wg writes them") {
  CHECK(parse_endpoint("198.51.100.1:51820")->port == 51820);
  CHECK(parse_endpoint("[2001:db8::1]:1")->address.to_string() == "2001:db8::1");
  CHECK_FALSE(parse_endpoint("2001:db8::1:1"));
  CHECK_FALSE(parse_endpoint("198.51.100.1"));
  CHECK_FALSE(parse_endpoint("198.51.100.1:65536"));
  CHECK_FALSE(parse_endpoint("host:1"));
}
