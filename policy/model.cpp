#include "policy/model.hpp"

#include <algorithm>

namespace sekisho::policy {

namespace {

template <typename T>
const T* find_named(const std::vector<T>& items, std::string_view name) {
  auto it =
      std::find_if(items.begin(), items.end(), [&](const T& item) { return item.name == name; });
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

const Zone* Policy::find_zone(std::string_view name) const {
  return find_named(zones, name);
}
const Host* Policy::find_host(std::string_view name) const {
  return find_named(hosts, name);
}
const Group* Policy::find_group(std::string_view name) const {
  return find_named(groups, name);
}
const Service* Policy::find_service(std::string_view name) const {
  return find_named(services, name);
}
const Schedule* Policy::find_schedule(std::string_view name) const {
  return find_named(schedules, name);
}
const Vpn* Policy::find_vpn(std::string_view name) const {
  return find_named(vpns, name);
}

const VpnPeer* Policy::find_peer(std::string_view name, const Vpn** vpn) const {
  for (const Vpn& candidate : vpns) {
    if (const VpnPeer* peer = find_named(candidate.peers, name)) {
      if (vpn) {
        *vpn = &candidate;
      }
      return peer;
    }
  }
  return nullptr;
}

}  // namespace sekisho::policy
