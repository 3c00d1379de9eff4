// The policy's WireGuard interfaces (vpn section), one vpn::Tunnel each.
#include "daemon/sekishod/service.hpp"

namespace sekisho::daemon {

void Service::enforce_vpns(const policy::Policy& policy) {
  for (auto it = tunnels_.begin(); it != tunnels_.end();) {
    if (policy.find_vpn(it->first) == nullptr) {
      it->second->take_down("vpn " + it->first + " is no longer in the policy");
      it = tunnels_.erase(it);
    } else {
      ++it;
    }
  }
  for (const policy::Vpn& vpn : policy.vpns) {
    std::unique_ptr<vpn::Tunnel>& tunnel = tunnels_[vpn.name];
    if (!tunnel) {
      tunnel = std::make_unique<vpn::Tunnel>(
          io_, [this](const std::string& kind, const nlohmann::json& details) {
            auditor_.record(Auditor::daemon_actor(), kind, details);
          });
    }
    tunnel->enforce(vpn);
  }
}

void Service::check_vpns() {
  for (auto& [name, tunnel] : tunnels_) {
    tunnel->check();
  }
}

nlohmann::json Service::vpn_status_json() {
  nlohmann::json vpns = nlohmann::json::array();
  for (auto& [name, tunnel] : tunnels_) {
    vpns.push_back(tunnel->status());
  }
  return {{"vpns", vpns}};
}

}  // namespace sekisho::daemon
