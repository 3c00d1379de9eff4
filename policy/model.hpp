#pragma once
// The policy as checked values. Every object remembers where it was written, so later
// stages (the compiler, the kernel backend) can point back at the policy line.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/address.hpp"
#include "policy/diagnostic.hpp"
#include "policy/extensions.hpp"
#include "policy/schedule.hpp"
#include "policy/service.hpp"

namespace sekisho::policy {

// A name as written in the file, with its place (for "undefined name" and friends).
struct NameRef {
  std::string name;
  SourcePos pos;
};

// What a zone is for. The guide's checks (W-2, L-1) depend on it.
enum class ZoneRole { Other, Ot, It, Wan, Vpn };

struct Zone {
  std::string name;
  SourcePos pos;
  std::vector<NameRef> interfaces;
  std::vector<Cidr> networks;          // for a VPN zone: the tunnel's networks
  std::vector<SourcePos> network_pos;  // where each network is written
  bool declares_networks = false;      // false: the zone holds every address no other zone holds
  std::optional<NameRef> vpn;
  ZoneRole role = ZoneRole::Other;
};

struct Inventory {
  std::string vendor;
  std::string model;
  std::string firmware;
  std::string serial;
  std::string location;
  std::optional<date::year_month_day> support_until;
};

struct Host {
  std::string name;
  SourcePos pos;
  std::vector<IpAddress> addresses;
  std::vector<SourcePos> address_pos;  // where each address is written
  std::optional<MacAddress> mac;
  Inventory inventory;
};

struct Group {
  std::string name;
  SourcePos pos;
  std::vector<NameRef> members;  // hosts or groups
};

struct Service {
  std::string name;
  SourcePos pos;
  std::vector<ServiceItem> items;
};

// A service in a rule: a named service, or an item written inline ("tcp/22").
struct ServiceUse {
  NameRef name;  // the service's name, or the inline text
  std::vector<ServiceItem> items;
};

struct Rule {
  std::string name;
  SourcePos pos;
  std::vector<NameRef> from;
  std::vector<NameRef> to;
  std::vector<ServiceUse> services;
  std::optional<NameRef> schedule;
  bool log = false;
  Extensions extensions;  // plugins' clauses on this rule ("rules[].modbus")
};

enum class NatMode { None, Masquerade };

struct Wan {
  SourcePos pos;
  NameRef interface;
  std::optional<NameRef> up;  // schedule that keeps the link powered
  NatMode nat = NatMode::None;
  std::string power_hook;
};

struct VpnPeer {
  std::string name;
  SourcePos pos;
  std::string public_key;  // base64 of 32 bytes
  std::vector<IpAddress> addresses;
  std::vector<SourcePos> address_pos;
  std::optional<std::int64_t> keepalive_seconds;
};

struct Vpn {
  std::string name;
  SourcePos pos;
  NameRef interface;
  std::uint16_t listen_port = 0;
  std::vector<InterfaceAddress> addresses;
  std::string private_key_file;
  std::vector<Cidr> source_networks;  // who may reach listen_port from the WAN (empty: all)
  std::vector<VpnPeer> peers;
};

enum class QueueFullAction { DropOldest, RejectNew };

// sekishod's own user name at the local broker starts with this (and goes on with random
// characters: daemon/cloud/local_broker); no publisher's name may.
inline constexpr std::string_view kBrokerBridgeUserPrefix = "sekishod";

struct CloudMqtt {
  SourcePos pos;
  NameRef broker;  // a host with literal addresses (C-1)
  std::uint16_t port = 8883;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  IpAddress local_broker_address;
  std::uint16_t local_broker_port = 1883;
  SourcePos local_broker_pos;
  bool publishers_given = false;  // the key is there (an empty list is still a decision)
  // Hosts or groups whose devices log in to the local broker: each publishes the uplink
  // topics and reads the downlink ones, under its host name (daemon/cloud/broker_config).
  std::vector<NameRef> publishers;
  std::vector<NameRef> uplink;    // MQTT topic filters
  std::vector<NameRef> downlink;  // MQTT topic filters
  std::uint64_t queue_max_bytes = 1ULL << 30;
  QueueFullAction queue_on_full = QueueFullAction::DropOldest;
  std::optional<std::uint64_t> drain_count;  // messages per drain_period_seconds
  std::int64_t drain_period_seconds = 1;
};

struct MaintenanceTarget {
  std::string name;
  SourcePos pos;
  NameRef host;
  std::vector<ServiceUse> services;
};

struct MaintenancePeer {
  NameRef peer;
  std::vector<NameRef> targets;
};

struct RemoteMaintenance {
  SourcePos pos;
  std::int64_t max_duration_seconds = 4 * 3600;
  std::vector<MaintenanceTarget> targets;
  std::vector<MaintenancePeer> peers;
};

struct Audit {
  std::int64_t retention_seconds = 400LL * 86400;
  std::optional<std::uint64_t> disk_budget_bytes;
  std::int64_t checkpoint_every_seconds = 600;
};

// Finds objects by name in a vector that may still grow: rebuilt when the vector's size
// changed, first definition wins (duplicates are reported by the checks).
class NameIndex {
 public:
  template <typename T>
  const T* find(const std::vector<T>& items, std::string_view name) const {
    if (built_for_ != items.size()) {
      index_.clear();
      for (std::size_t i = 0; i < items.size(); ++i) {
        index_.emplace(items[i].name, i);
      }
      built_for_ = items.size();
    }
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &items[it->second];
  }

 private:
  mutable std::unordered_map<std::string, std::size_t> index_;
  mutable std::size_t built_for_ = static_cast<std::size_t>(-1);
};

struct Policy {
  std::string file;
  int version = 1;
  std::string gateway_name;
  std::string timezone = "UTC";
  SourcePos timezone_pos;
  std::vector<Zone> zones;
  std::vector<Host> hosts;
  std::vector<Group> groups;
  std::vector<Service> services;
  std::vector<Rule> rules;
  std::vector<Schedule> schedules;
  std::optional<Wan> wan;
  std::vector<Vpn> vpns;
  std::optional<CloudMqtt> cloud;
  std::optional<RemoteMaintenance> remote_maintenance;
  Audit audit;
  Extensions extensions;  // plugins' top-level sections

  const Zone* find_zone(std::string_view name) const;
  const Host* find_host(std::string_view name) const;
  const Group* find_group(std::string_view name) const;
  const Service* find_service(std::string_view name) const;
  const Schedule* find_schedule(std::string_view name) const;
  const Vpn* find_vpn(std::string_view name) const;
  // The VPN peer of that name, in whichever tunnel it is declared.
  const VpnPeer* find_peer(std::string_view name, const Vpn** vpn = nullptr) const;

 private:
  NameIndex zone_index_;
  NameIndex host_index_;
  NameIndex group_index_;
  NameIndex service_index_;
  NameIndex schedule_index_;
  NameIndex vpn_index_;
};

}  // namespace sekisho::policy
