#include "policy/model.hpp"

namespace sekisho::policy {

const Zone* Policy::find_zone(std::string_view name) const {
  return zone_index_.find(zones, name);
}
const Host* Policy::find_host(std::string_view name) const {
  return host_index_.find(hosts, name);
}
const Group* Policy::find_group(std::string_view name) const {
  return group_index_.find(groups, name);
}
const Service* Policy::find_service(std::string_view name) const {
  return service_index_.find(services, name);
}
const Schedule* Policy::find_schedule(std::string_view name) const {
  return schedule_index_.find(schedules, name);
}
const Vpn* Policy::find_vpn(std::string_view name) const {
  return vpn_index_.find(vpns, name);
}

const VpnPeer* Policy::find_peer(std::string_view name, const Vpn** vpn) const {
  for (const Vpn& candidate : vpns) {
    for (const VpnPeer& peer : candidate.peers) {
      if (peer.name == name) {
        if (vpn) {
          *vpn = &candidate;
        }
        return &peer;
      }
    }
  }
  return nullptr;
}

}  // namespace sekisho::policy
