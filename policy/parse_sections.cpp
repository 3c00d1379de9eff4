// The runtime sections of a policy: wan, vpn, cloud, remote_maintenance and audit. Their
// runtime comes with later issues; their syntax and checks are fixed now.

#include "policy/parser.hpp"
#include "policy/units.hpp"

namespace sekisho::policy {

namespace {

// A WireGuard public key: base64 of exactly 32 bytes (44 characters ending in '=').
bool is_wireguard_key(std::string_view text) {
  if (text.size() != 44 || text[43] != '=') {
    return false;
  }
  auto base64 = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  };
  for (std::size_t i = 0; i < 43; ++i) {
    if (!base64(text[i])) {
      return false;
    }
  }
  // 32 bytes leave 2 spare bits in the last character: only A, E, I, ... are valid.
  return std::string_view("AEIMQUYcgkosw048").find(text[42]) != std::string_view::npos;
}

std::optional<std::uint16_t> port(const YamlNode& node, Reader& reader, std::string_view what) {
  auto value = reader.integer(node, what, 1, 65535);
  if (!value) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*value);
}

void parse_peer(const std::string& name, const YamlNode& key_node, const YamlNode& value,
                Reader& reader, Vpn& vpn) {
  VpnPeer peer;
  peer.name = name;
  peer.pos = key_node.pos;
  if (!reader.mapping(value, "vpn.*.peers.*", "peer '" + name + "'")) {
    return;
  }
  if (const YamlNode* key = value.find("public_key")) {
    if (auto text = reader.string(*key, "public_key")) {
      if (is_wireguard_key(*text)) {
        peer.public_key = *text;
      } else {
        reader.diagnostics().error(key->pos, "bad-key",
                                   "public_key is not a WireGuard key (base64 of 32 bytes)",
                                   "the vendor prints it with 'wg pubkey < private.key'");
      }
    }
  } else {
    reader.missing(value, key_node.pos, "peer '" + name + "'", "public_key");
  }
  peer.addresses = reader.addresses(value, key_node.pos, "peer '" + name + "'", peer.address_pos);
  if (const YamlNode* keepalive = value.find("keepalive")) {
    peer.keepalive_seconds = reader.duration(*keepalive, "keepalive");
    if (peer.keepalive_seconds &&
        (*peer.keepalive_seconds < 1 || *peer.keepalive_seconds > 65535)) {
      reader.diagnostics().error(keepalive->pos, "range",
                                 "keepalive must be from 1s to 65535s (WireGuard's limit)");
    }
  }
  vpn.peers.push_back(std::move(peer));
}

}  // namespace

void parse_wan(const YamlNode& node, Reader& reader, Policy& policy) {
  if (!reader.mapping(node, "wan", "wan")) {
    return;
  }
  Wan wan;
  wan.pos = node.pos;
  if (const YamlNode* interface = node.find("interface")) {
    if (auto name = reader.interface_name(*interface)) {
      wan.interface = *name;
    }
  } else {
    reader.missing(node, node.pos, "wan", "interface");
  }
  if (const YamlNode* up = node.find("up")) {
    wan.up = reader.name(*up, "wan.up (a schedule)");
  }
  if (const YamlNode* nat = node.find("nat")) {
    auto text = reader.string(*nat, "wan.nat");
    if (text && *text == "masquerade") {
      wan.nat = NatMode::Masquerade;
    } else if (text && *text == "none") {
      wan.nat = NatMode::None;
    } else if (text) {
      reader.diagnostics().error(nat->pos, "bad-value", "wan.nat must be 'masquerade' or 'none'");
    }
  }
  if (const YamlNode* hook = node.find("power_hook")) {
    if (auto path = reader.absolute_path(*hook, "wan.power_hook")) {
      if (path->rfind("/etc/sekisho/hooks/", 0) != 0 || path->size() <= 19) {
        reader.diagnostics().error(hook->pos, "bad-path",
                                   "wan.power_hook must be a file under /etc/sekisho/hooks/",
                                   "hooks run as root: keep them where only root can write");
      } else {
        wan.power_hook = *path;
      }
    }
  }
  policy.wan = std::move(wan);
}

void parse_vpns(const YamlNode& node, Reader& reader, Policy& policy) {
  if (node.is_null() || !reader.named_mapping(node, "vpn")) {
    return;
  }
  for (const auto& [key, value] : node.entries) {
    Vpn vpn;
    vpn.name = key.value;
    vpn.pos = key.pos;
    const std::string what = "vpn '" + key.value + "'";
    if (!reader.mapping(value, "vpn.*", what)) {
      continue;
    }
    if (const YamlNode* interface = value.find("interface")) {
      if (auto name = reader.interface_name(*interface)) {
        vpn.interface = *name;
      }
    } else {
      reader.missing(value, key.pos, what, "interface");
    }
    if (const YamlNode* listen = value.find("listen_port")) {
      vpn.listen_port = port(*listen, reader, "listen_port").value_or(0);
    } else {
      reader.missing(value, key.pos, what, "listen_port");
    }
    if (const YamlNode* address = value.find("address")) {
      for (const YamlNode* item : reader.list(*address, "address", true)) {
        auto text = reader.string(*item, "a tunnel address");
        if (!text) {
          continue;
        }
        auto parsed = parse_interface_address(*text);
        if (parsed && parsed->address != parsed->network().network) {
          vpn.addresses.push_back(*parsed);
        } else {
          reader.diagnostics().error(item->pos, "bad-address",
                                     "'" + *text +
                                         "' is not a tunnel address such as "
                                         "198.18.0.1/24 (address/prefix of the gateway's side)");
        }
      }
    } else {
      reader.missing(value, key.pos, what, "address");
    }
    if (const YamlNode* file = value.find("private_key_file")) {
      vpn.private_key_file = reader.absolute_path(*file, "private_key_file").value_or("");
    } else {
      reader.missing(value, key.pos, what, "private_key_file");
    }
    if (const YamlNode* sources = value.find("source_networks")) {
      for (const YamlNode* item : reader.list(*sources, "source_networks")) {
        if (auto network = reader.cidr(*item, "a source network")) {
          vpn.source_networks.push_back(*network);
        }
      }
    }
    if (const YamlNode* peers = value.find("peers")) {
      if (!peers->is_null() && reader.named_mapping(*peers, "peers")) {
        for (const auto& [peer_key, peer_value] : peers->entries) {
          parse_peer(peer_key.value, peer_key, peer_value, reader, vpn);
        }
      }
    }
    policy.vpns.push_back(std::move(vpn));
  }
}

void parse_cloud(const YamlNode& node, Reader& reader, Policy& policy) {
  if (!reader.mapping(node, "cloud", "cloud")) {
    return;
  }
  const YamlNode* mqtt_node = node.find("mqtt");
  if (!mqtt_node) {
    reader.missing(node, node.pos, "cloud", "mqtt");
    return;
  }
  const YamlNode& mqtt = *mqtt_node;
  if (!reader.mapping(mqtt, "cloud.mqtt", "cloud.mqtt")) {
    return;
  }
  CloudMqtt cloud;
  cloud.pos = mqtt.pos;
  if (const YamlNode* broker = mqtt.find("broker")) {
    // Any text is read here so that the C-1 check can name a DNS name for what it is.
    if (auto text = reader.string(*broker, "cloud broker")) {
      cloud.broker = NameRef{*text, broker->pos};
    }
  } else {
    reader.missing(mqtt, mqtt.pos, "cloud.mqtt", "broker");
  }
  if (const YamlNode* p = mqtt.find("port")) {
    cloud.port = port(*p, reader, "cloud.mqtt.port").value_or(cloud.port);
  }
  if (const YamlNode* tls = mqtt.find("tls")) {
    if (reader.mapping(*tls, "cloud.mqtt.tls", "cloud.mqtt.tls")) {
      auto file = [&](std::string_view key, std::string& out) {
        if (const YamlNode* item = tls->find(key)) {
          out = reader.absolute_path(*item, key).value_or("");
        } else {
          reader.missing(*tls, tls->pos, "cloud.mqtt.tls", key);
        }
      };
      file("ca_file", cloud.ca_file);
      file("cert_file", cloud.cert_file);
      file("key_file", cloud.key_file);
    }
  } else {
    reader.diagnostics().error(node.key_pos("mqtt"), "C-1",
                               "cloud.mqtt needs 'tls': telemetry leaves the "
                               "plant only over TLS with a pinned CA",
                               "add tls: { ca_file, cert_file, key_file }");
  }
  if (const YamlNode* local = mqtt.find("local_broker")) {
    if (auto text = reader.string(*local, "local_broker")) {
      // "192.0.2.1:1883" or "[2001:db8::1]:1883"
      std::string_view view = *text;
      auto colon = view.rfind(':');
      std::string_view host = colon == std::string_view::npos ? view : view.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      }
      auto address = parse_ip(host);
      auto number = colon == std::string_view::npos ? std::nullopt
                                                    : parse_unsigned(view.substr(colon + 1), 65535);
      if (!address || !number || *number == 0 ||
          (address->family == Family::V6 && view.front() != '[')) {
        reader.diagnostics().error(local->pos, "bad-address",
                                   "local_broker must be ADDRESS:PORT, e.g. 192.0.2.1:1883 or "
                                   "[2001:db8::1]:1883",
                                   "the gateway's own address on the factory side");
      } else {
        cloud.local_broker_address = *address;
        cloud.local_broker_port = static_cast<std::uint16_t>(*number);
        cloud.local_broker_pos = local->pos;
      }
    }
  } else {
    reader.missing(mqtt, mqtt.pos, "cloud.mqtt", "local_broker");
  }
  auto topics = [&](std::string_view key, std::vector<NameRef>& out) {
    if (const YamlNode* list = mqtt.find(key)) {
      for (const YamlNode* item : reader.list(*list, key)) {
        if (auto text = reader.string(*item, "a topic filter")) {
          out.push_back(NameRef{*text, item->pos});
        }
      }
    }
  };
  if (const YamlNode* list = mqtt.find("publishers")) {
    cloud.publishers_given = true;
    for (const YamlNode* item : reader.list(*list, "publishers")) {
      if (auto name = reader.name(*item, "a publisher")) {
        cloud.publishers.push_back(*name);
      }
    }
  }
  topics("uplink", cloud.uplink);
  topics("downlink", cloud.downlink);
  if (const YamlNode* queue = mqtt.find("queue")) {
    if (reader.mapping(*queue, "cloud.mqtt.queue", "cloud.mqtt.queue")) {
      if (const YamlNode* max = queue->find("max_bytes")) {
        cloud.queue_max_bytes = reader.byte_size(*max, "max_bytes").value_or(cloud.queue_max_bytes);
        if (cloud.queue_max_bytes < (1U << 20)) {
          reader.diagnostics().error(max->pos, "range", "queue.max_bytes must be at least 1MiB");
        }
      }
      if (const YamlNode* full = queue->find("on_full")) {
        auto text = reader.string(*full, "on_full");
        if (text && *text == "drop-oldest") {
          cloud.queue_on_full = QueueFullAction::DropOldest;
        } else if (text && *text == "reject-new") {
          cloud.queue_on_full = QueueFullAction::RejectNew;
        } else if (text) {
          reader.diagnostics().error(full->pos, "bad-value",
                                     "on_full must be 'drop-oldest' or 'reject-new'");
        }
      }
      if (const YamlNode* rate = queue->find("drain_rate")) {
        if (auto text = reader.string(*rate, "drain_rate")) {
          if (auto parsed = parse_rate(*text)) {
            cloud.drain_count = parsed->count;
            cloud.drain_period_seconds = parsed->per_seconds;
          } else {
            reader.diagnostics().error(rate->pos, "bad-value",
                                       "drain_rate must be messages per time: N/s, N/m or N/h",
                                       "e.g. drain_rate: 200/s");
          }
        }
      }
    }
  }
  policy.cloud = std::move(cloud);
}

void parse_remote_maintenance(const YamlNode& node, Reader& reader, Policy& policy) {
  if (!reader.mapping(node, "remote_maintenance", "remote_maintenance")) {
    return;
  }
  RemoteMaintenance maintenance;
  maintenance.pos = node.pos;
  if (const YamlNode* max = node.find("max_duration")) {
    auto seconds = reader.duration(*max, "max_duration");
    if (seconds && (*seconds < 60 || *seconds > 7LL * 86400)) {
      reader.diagnostics().error(max->pos, "range",
                                 "max_duration must be from 1m to 7d: sessions are time-boxed");
    } else if (seconds) {
      maintenance.max_duration_seconds = *seconds;
    }
  }
  if (const YamlNode* targets = node.find("targets")) {
    if (!targets->is_null() && reader.named_mapping(*targets, "targets")) {
      for (const auto& [key, value] : targets->entries) {
        MaintenanceTarget target;
        target.name = key.value;
        target.pos = key.pos;
        if (!reader.mapping(value, "remote_maintenance.targets.*", "target '" + key.value + "'")) {
          continue;
        }
        if (const YamlNode* host = value.find("host")) {
          if (auto name = reader.name(*host, "target host")) {
            target.host = *name;
          }
        } else {
          reader.missing(value, key.pos, "target '" + key.value + "'", "host");
        }
        if (const YamlNode* services = value.find("services")) {
          target.services = reader.service_uses(*services);
        } else {
          reader.missing(value, key.pos, "target '" + key.value + "'", "services");
        }
        maintenance.targets.push_back(std::move(target));
      }
    }
  }
  if (const YamlNode* peers = node.find("peers")) {
    if (!peers->is_null() && reader.named_mapping(*peers, "remote_maintenance.peers")) {
      for (const auto& [key, value] : peers->entries) {
        MaintenancePeer peer{NameRef{key.value, key.pos}, {}};
        for (const YamlNode* item : reader.list(value, "the peer's targets", true)) {
          if (auto name = reader.name(*item, "a maintenance target")) {
            peer.targets.push_back(*name);
          }
        }
        maintenance.peers.push_back(std::move(peer));
      }
    }
  }
  policy.remote_maintenance = std::move(maintenance);
}

void parse_audit(const YamlNode& node, Reader& reader, Policy& policy) {
  if (!reader.mapping(node, "audit", "audit")) {
    return;
  }
  if (const YamlNode* retention = node.find("retention")) {
    if (auto seconds = reader.duration(*retention, "retention")) {
      policy.audit.retention_seconds = *seconds;
      // An error since issue 20, the one deliberate break with version 1 files that were
      // valid before: a short retention lets an admin purge the history by exporting it.
      if (*seconds < 180LL * 86400) {
        reader.diagnostics().error(
            retention->pos, "S-6", "audit retention under 6 months (180d)",
            "the JPCERT/CC guide (S-6) asks for 6 to 12 months; the default is 400d. Version 1 "
            "files accepted this as a warning before; it is now refused (the one intended "
            "incompatible change): set 180d or more, or leave retention out");
      }
    }
  }
  if (const YamlNode* budget = node.find("disk_budget")) {
    policy.audit.disk_budget_bytes = reader.byte_size(*budget, "disk_budget");
  }
  if (const YamlNode* every = node.find("checkpoint_every")) {
    if (auto seconds = reader.duration(*every, "checkpoint_every")) {
      if (*seconds < 1 || *seconds > 86400) {
        reader.diagnostics().error(every->pos, "range", "checkpoint_every must be from 1s to 1d");
      } else {
        policy.audit.checkpoint_every_seconds = *seconds;
      }
    }
  }
}

}  // namespace sekisho::policy
