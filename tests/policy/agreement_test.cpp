// explain and the compiled ruleset agree: for generated policies, many sampled packets
// get the same verdict from explain and from the IR (walked by a small interpreter).

#include <fstream>
#include <iterator>
#include <random>

#include <doctest/doctest.h>

#include "../bench/policy_generator.hpp"
#include "ir_evaluator.hpp"
#include "policy/compile.hpp"
#include "policy/explain.hpp"
#include "policy_fixture.hpp"

using namespace sekisho;
using namespace sekisho::policy;

namespace {

struct Agreement {
  int accepted = 0;
  int dropped = 0;
};

// Addresses worth asking about: every host address, every peer, the gateway's own
// addresses, random addresses in each zone's networks and on the WAN.
std::vector<IpAddress> candidate_addresses(const Policy& policy, std::mt19937& random) {
  std::vector<IpAddress> out;
  for (const Host& host : policy.hosts) {
    out.insert(out.end(), host.addresses.begin(), host.addresses.end());
  }
  for (const Vpn& vpn : policy.vpns) {
    for (const VpnPeer& peer : vpn.peers) {
      out.insert(out.end(), peer.addresses.begin(), peer.addresses.end());
    }
    for (const InterfaceAddress& address : vpn.addresses) {
      out.push_back(address.address);
    }
  }
  for (const Zone& zone : policy.zones) {
    for (const Cidr& network : zone.networks) {
      for (int i = 0; i < 8; ++i) {
        IpAddress address = network.network;
        for (int bit = network.prefix; bit < address.bits(); ++bit) {
          if (random() & 1) {
            address.bytes[static_cast<std::size_t>(bit / 8)] |=
                static_cast<std::uint8_t>(0x80 >> (bit % 8));
          }
        }
        out.push_back(address);
      }
    }
  }
  for (const char* wan : {"198.51.100.7", "203.0.113.99", "2001:db8:ff::7"}) {
    out.push_back(*parse_ip(wan));
  }
  return out;
}

Agreement check_agreement(const std::string& text, int samples, std::uint32_t seed) {
  LoadResult loaded = policy::testing::load(text);
  REQUIRE_MESSAGE(loaded.policy, policy::testing::dump(loaded.diagnostics));
  const Policy& policy = *loaded.policy;
  const ir::Ruleset ruleset = compile(policy);
  const Resolver resolver(policy);
  const date::time_zone& zone = *date::locate_zone(policy.timezone);
  std::mt19937 random(seed);
  const auto addresses = candidate_addresses(policy, random);

  std::vector<std::uint16_t> ports = {502, 4840, 5007, 5006, 123, 22, 8883, 1883, 51820, 80};
  for (const Service& service : policy.services) {
    for (const ServiceItem& item : service.items) {
      ports.push_back(item.port_lo);
      ports.push_back(item.port_hi);
    }
  }
  // Instants inside and outside every schedule's windows.
  std::vector<std::chrono::sys_seconds> instants;
  for (const char* at : {"2026-11-25T10:00", "2026-11-25T21:00", "2026-11-28T23:30",
                         "2026-11-29T05:00", "2026-12-30T10:00", "2026-03-29T03:30"}) {
    std::string error;
    instants.push_back(*parse_instant(at, zone, error));
  }

  Agreement agreement;
  for (int i = 0; i < samples; ++i) {
    Packet packet;
    const IpAddress& source = addresses[random() % addresses.size()];
    IpAddress destination = addresses[random() % addresses.size()];
    if (destination.family != source.family) {
      continue;
    }
    packet.from = resolver.endpoint_for(source);
    packet.to = resolver.endpoint_for(destination);
    // Now and then, the gateway itself at one end.
    if (random() % 6 == 0) {
      packet.from = Endpoint{true, source};
    } else if (random() % 6 == 0) {
      packet.to = Endpoint{true, destination};
    }
    if (packet.from.gateway && packet.to.gateway) {
      continue;
    }
    const bool v4 = source.family == Family::V4;
    switch (random() % 4) {
      case 0:
        packet.proto = Proto::Tcp;
        break;
      case 1:
        packet.proto = Proto::Udp;
        break;
      default:
        packet.proto = v4 ? Proto::Icmp : Proto::Icmpv6;
        break;
    }
    if (packet.proto == Proto::Tcp || packet.proto == Proto::Udp) {
      packet.port = random() % 4 ? ports[random() % ports.size()]
                                 : static_cast<std::uint16_t>(1 + random() % 65535);
    } else {
      packet.icmp_type = v4 ? (random() % 2 ? 8 : 0) : (random() % 2 ? 128 : 129);
    }
    const auto at = instants[random() % instants.size()];

    sekisho::testing::EvalPacket eval;
    eval.source = source;
    eval.destination = destination;
    eval.proto = packet.proto;
    eval.port = packet.port;
    eval.icmp_type = packet.icmp_type;
    const Zone* from_zone = packet.from.gateway ? nullptr : resolver.zone_of(source);
    const Zone* to_zone = packet.to.gateway ? nullptr : resolver.zone_of(destination);
    if ((!packet.from.gateway && !from_zone) || (!packet.to.gateway && !to_zone)) {
      continue;
    }
    eval.hook = packet.from.gateway ? ir::Hook::Output
                : packet.to.gateway ? ir::Hook::Input
                                    : ir::Hook::Forward;
    eval.iif = from_zone ? from_zone->interfaces.at(random() % from_zone->interfaces.size()).name
                         : std::string{};
    eval.oif = to_zone ? to_zone->interfaces.at(random() % to_zone->interfaces.size()).name
                       : std::string{};
    // A host bound to a MAC sends with it (explain does not model spoofing).
    for (const Host& host : policy.hosts) {
      if (host.mac &&
          std::find(host.addresses.begin(), host.addresses.end(), source) != host.addresses.end()) {
        eval.ether_source = host.mac;
      }
    }
    if (!eval.ether_source) {
      eval.ether_source = parse_mac("02:00:00:00:00:01");
    }

    const Verdict expected = explain(resolver, zone, packet, at);
    sekisho::testing::IrEvaluator evaluator(ruleset, [&](const std::string& name) {
      return is_open(*policy.find_schedule(name), zone, at);
    });
    const bool actual = evaluator.accepts(eval);
    if (actual != expected.accept) {
      FAIL("explain says " << std::string(expected.accept ? "accept" : "drop") << " ("
                           << expected.reason << " " << expected.rule << "), the ruleset says "
                           << std::string(actual ? "accept" : "drop") << ": "
                           << (packet.from.gateway ? "gateway" : source.to_string()) << " -> "
                           << (packet.to.gateway ? "gateway" : destination.to_string()) << " "
                           << proto_name(packet.proto) << " " << packet.port << packet.icmp_type
                           << " via " << eval.iif << "/" << eval.oif);
    }
    (actual ? agreement.accepted : agreement.dropped)++;
  }
  return agreement;
}

}  // namespace

TEST_CASE("explain and the ruleset agree on the factory line") {
  std::ifstream in(SEKISHO_SOURCE_DIR "/configs/factory-line.yaml");
  std::string text(std::istreambuf_iterator<char>(in), {});
  Agreement agreement = check_agreement(text, 20000, 11);
  MESSAGE("factory-line: " << agreement.accepted << " accepted, " << agreement.dropped
                           << " dropped, all agreeing");
  CHECK(agreement.accepted > 20);
  CHECK(agreement.dropped > 1000);
}

TEST_CASE("explain and the ruleset agree on generated policies") {
  for (std::uint32_t seed : {1U, 2U, 3U}) {
    sekisho::testing::GeneratedPolicyShape shape;
    shape.ot_hosts = 60;
    shape.it_hosts = 12;
    shape.groups = 5;
    shape.rules = 40;
    shape.group_rule_pairs = 100;
    shape.seed = seed;
    Agreement agreement = check_agreement(sekisho::testing::generate_policy(shape), 20000, seed);
    MESSAGE("seed " << seed << ": " << agreement.accepted << " accepted, " << agreement.dropped
                    << " dropped, all agreeing");
    CHECK(agreement.accepted > 200);
    CHECK(agreement.dropped > 1000);
  }
}
