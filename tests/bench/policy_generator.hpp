#pragma once
// Generates large, valid policies of a fixed shape for tests and benchmarks: an OT zone
// and an IT zone (IPv4 and IPv6), a WAN zone, a VPN, groups of hosts and rules between
// them, some scheduled, some logged, some with ICMP or 'any'. Deterministic for a seed.
// Addresses stay inside the documentation and benchmarking ranges.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sekisho::testing {

struct GeneratedPolicyShape {
  int ot_hosts = 10;         // in 198.18.0.0/16 (and 2001:db8:1::/64 for every 4th)
  int it_hosts = 4;          // in 198.19.0.0/17
  int groups = 4;            // groups of OT hosts
  int rules = 8;             // host-to-group rules, besides a fixed set of zone rules
  int group_rule_pairs = 0;  // > 0: one extra rule from an IT group to an OT group with
                             // about this many (source, destination) pairs
  std::uint32_t seed = 1;
};

inline std::string ot_address(int i) {
  return "198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}
inline std::string it_address(int i) {
  return "198.19." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}

inline std::string generate_policy(const GeneratedPolicyShape& shape) {
  // Rules follow a fixed pattern shifted by the seed (no random draws), so two shapes
  // that differ only in host counts compile to the same kinds of sets.
  const int seed = static_cast<int>(shape.seed % 1000);
  std::string out =
      "version: 1\n"
      "gateway: { name: generated-gw, timezone: Europe/Berlin }\n"
      "zones:\n"
      "  ot: { interfaces: [lan0, lan1], networks: [198.18.0.0/16, \"2001:db8:1::/64\"] }\n"
      "  it: { interfaces: [it0], networks: [198.19.0.0/17, \"2001:db8:2::/64\"] }\n"
      "  wan: { interfaces: [wan0] }\n"
      "  maint: { vpn: maint }\n"
      "hosts:\n";
  for (int i = 0; i < shape.ot_hosts; ++i) {
    out += "  ot" + std::to_string(i) + ": { addresses: [" + ot_address(i);
    if (i % 4 == 0) {
      out += ", \"2001:db8:1::" + std::to_string(i + 1) + "\"";
    }
    out += "]";
    if (i % 7 == 0) {
      char mac[32];
      std::snprintf(mac, sizeof mac, "00:1d:9c:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff,
                    i & 0xff);
      out += std::string(", mac: \"") + mac + "\"";
    }
    out += " }\n";
  }
  for (int i = 0; i < shape.it_hosts; ++i) {
    out += "  it" + std::to_string(i) + ": { addresses: [" + it_address(i);
    if (i % 2 == 0) {
      out += ", \"2001:db8:2::" + std::to_string(i + 1) + "\"";
    }
    out += "] }\n";
  }
  out += "  cloud: { addresses: [203.0.113.10, 203.0.113.11] }\n";
  out += "groups:\n";
  for (int g = 0; g < shape.groups; ++g) {
    out += "  cell" + std::to_string(g) + ": [";
    bool first = true;
    for (int i = g; i < shape.ot_hosts; i += shape.groups) {
      out += (first ? "" : ", ") + std::string("ot") + std::to_string(i);
      first = false;
    }
    out += "]\n";
  }
  out += "  all-it: [";
  for (int i = 0; i < shape.it_hosts; ++i) {
    out += (i ? ", " : "") + std::string("it") + std::to_string(i);
  }
  out += "]\n";
  out +=
      "services:\n"
      "  modbus: tcp/502\n"
      "  opcua: tcp/4840\n"
      "  melsec: [tcp/5007, udp/5006]\n"
      "  dyn: tcp/20000-20100\n"
      "  ntp: udp/123\n"
      "schedules:\n"
      "  shifts: { weekly: [\"mon-fri 07:30-20:00\", \"sat 22:00-06:00\"], closed: "
      "[\"2026-12-29..2027-01-03\"] }\n"
      "rules:\n"
      "  - { name: it pings ot, from: it, to: ot, services: [icmp/echo-request, "
      "icmpv6/echo-request], log: true }\n"
      "  - { name: ot takes time, from: ot, to: it0, services: [ntp] }\n"
      "  - { name: gateway time, from: gateway, to: it0, services: [ntp] }\n"
      "  - { name: it reaches gateway, from: all-it, to: gateway, services: [tcp/22] }\n"
      "  - { name: ot to cloud, from: cell0, to: cloud, services: [tcp/8883] }\n";
  const char* services[] = {"modbus", "opcua", "melsec", "dyn"};
  for (int r = 0; r < shape.rules; ++r) {
    out += "  - { name: rule" + std::to_string(r) + ", from: it" +
           std::to_string((r * 7 + seed) % shape.it_hosts) + ", to: cell" +
           std::to_string((r * 3 + seed) % shape.groups) + ", services: [" +
           services[(r + seed) % 4] + "]";
    if (r % 5 == 0) {
      out += ", schedule: shifts";
    }
    out += " }\n";
  }
  if (shape.group_rule_pairs > 0) {
    // all-it x a cell: it_hosts x (ot_hosts / groups) pairs per cell.
    const int per_cell = std::max(1, shape.ot_hosts / shape.groups) * shape.it_hosts;
    const int cells = std::min(shape.groups, std::max(1, shape.group_rule_pairs / per_cell));
    out += "  - { name: it polls cells, from: all-it, to: [";
    for (int g = 0; g < cells; ++g) {
      out += (g ? ", " : "") + std::string("cell") + std::to_string(g);
    }
    out += "], services: [modbus] }\n";
  }
  out +=
      "wan: { interface: wan0, up: shifts, nat: masquerade }\n"
      "vpn:\n"
      "  maint:\n"
      "    interface: wg0\n"
      "    listen_port: 51820\n"
      "    address: 198.19.128.1/24\n"
      "    private_key_file: /etc/sekisho/keys/wg0.key\n"
      "    peers:\n"
      "      vendor: { public_key: \"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\", "
      "address: 198.19.128.2 }\n"
      "cloud:\n"
      "  mqtt:\n"
      "    broker: cloud\n"
      "    tls: { ca_file: /etc/sekisho/cloud/ca.pem, cert_file: /etc/sekisho/cloud/gw.pem, "
      "key_file: /etc/sekisho/cloud/gw.key }\n"
      "    local_broker: 198.18.255.254:1883\n"
      "    uplink: [\"plant/+/telemetry\"]\n";
  return out;
}

// `--name N` from a benchmark's command line, else `fallback`.
inline int int_option(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) {
      return std::atoi(argv[i + 1]);
    }
  }
  return fallback;
}

// The benchmarks' large policy (10k OT hosts, 100 IT hosts, 50k allowed pairs), resized
// by --ot-hosts, --it-hosts and --pairs.
inline GeneratedPolicyShape bench_shape(int argc, char** argv) {
  GeneratedPolicyShape shape;
  shape.ot_hosts = int_option(argc, argv, "--ot-hosts", 10000);
  shape.it_hosts = int_option(argc, argv, "--it-hosts", 100);
  shape.groups = 100;
  shape.rules = 500;
  shape.group_rule_pairs = int_option(argc, argv, "--pairs", 50000);
  return shape;
}

}  // namespace sekisho::testing
