#include "policy/keys.hpp"

#include <algorithm>

#include "plugins/plugin.hpp"

namespace sekisho::policy {

const std::vector<MappingKeys>& core_mapping_keys() {
  static const std::vector<MappingKeys> kKeys = {
      {"",
       {"version", "gateway", "zones", "hosts", "groups", "services", "rules", "schedules", "wan",
        "vpn", "cloud", "remote_maintenance", "audit"}},
      {"gateway", {"name", "timezone"}},
      {"zones.*", {"interfaces", "networks", "vpn", "role"}},
      {"hosts.*", {"address", "addresses", "mac", "inventory"}},
      {"hosts.*.inventory", {"vendor", "model", "firmware", "serial", "location", "support_until"}},
      {"rules[]", {"name", "from", "to", "services", "schedule", "log"}},
      {"schedules.*", {"weekly", "closed"}},
      {"wan", {"interface", "up", "nat", "power_hook"}},
      {"vpn.*",
       {"interface", "listen_port", "address", "private_key_file", "source_networks", "peers"}},
      {"vpn.*.peers.*", {"public_key", "address", "addresses", "keepalive"}},
      {"cloud", {"mqtt"}},
      {"cloud.mqtt",
       {"broker", "port", "tls", "local_broker", "publishers", "uplink", "downlink", "queue"}},
      {"cloud.mqtt.tls", {"ca_file", "cert_file", "key_file"}},
      {"cloud.mqtt.queue", {"max_bytes", "on_full", "drain_rate"}},
      {"remote_maintenance", {"max_duration", "targets", "peers"}},
      {"remote_maintenance.targets.*", {"host", "services"}},
      {"audit", {"retention", "disk_budget", "checkpoint_every"}},
  };
  return kKeys;
}

namespace {

std::vector<MappingKeys> with_plugins(std::vector<MappingKeys> keys) {
  for (const plugins::Plugin* plugin : plugins::registered()) {
    for (const plugins::PolicyPart& part : plugin->policy) {
      const std::string_view parent =
          part.place == plugins::PolicyPart::Place::Section ? "" : "rules[]";
      for (MappingKeys& mapping : keys) {
        if (mapping.path == parent) {
          mapping.keys.push_back(part.key);
        }
      }
      keys.insert(keys.end(), part.mappings.begin(), part.mappings.end());
    }
  }
  return keys;
}

}  // namespace

const std::vector<MappingKeys>& policy_mapping_keys() {
  static const std::vector<MappingKeys> kKeys = with_plugins(core_mapping_keys());
  return kKeys;
}

const std::vector<std::string_view>& keys_at(std::string_view path) {
  static const std::vector<std::string_view> kNone;
  for (const MappingKeys& mapping : policy_mapping_keys()) {
    if (mapping.path == path) {
      return mapping.keys;
    }
  }
  return kNone;
}

std::vector<std::string> known_key_paths() {
  std::vector<std::string> paths;
  for (const MappingKeys& mapping : policy_mapping_keys()) {
    for (std::string_view key : mapping.keys) {
      std::string path(mapping.path);
      if (!path.empty()) {
        path += '.';
      }
      paths.push_back(path + std::string(key));
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  if (word.size() > 64) {
    return {};
  }
  std::string_view best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (std::string_view candidate : candidates) {
    std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return std::string(best);
}

}  // namespace sekisho::policy
