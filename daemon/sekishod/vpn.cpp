#include "daemon/sekishod/vpn.hpp"

#include "daemon/sekishod/method_binding.hpp"

namespace sekisho::daemon {

namespace {

// A peer someone removed with `wg` is back within this time.
constexpr auto kVpnPoll = std::chrono::seconds(5);

}  // namespace

Vpn::Vpn(Host& host) : host_(host), timer_(host.io()) {}

void Vpn::after_policy(const policy::Policy& policy, bool ok) {
  if (!ok) {
    return;
  }
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
          host_.io(), [this](const std::string& kind, const nlohmann::json& details) {
            host_.auditor().record(Auditor::daemon_actor(), kind, details);
          });
    }
    tunnel->enforce(vpn);
  }
}

void Vpn::start() {
  host_.every(timer_, kVpnPoll, "vpn check", [this] { check(); });
}

void Vpn::check() {
  for (auto& [name, tunnel] : tunnels_) {
    tunnel->check();
  }
}

nlohmann::json Vpn::status_json() {
  nlohmann::json vpns = nlohmann::json::array();
  for (auto& [name, tunnel] : tunnels_) {
    vpns.push_back(tunnel->status());
  }
  return {{"vpns", vpns}};
}

void Vpn::bind_methods(control::MethodTable& table) {
  table.bind(control::kVpnStatus,
             [this](const control::MethodTable::Call&) { return status_json(); });
}

}  // namespace sekisho::daemon
