// Cloud brokering (policy cloud.mqtt): the bridge follows the policy in force, and the WAN
// gate (daemon/cloud/bridge.hpp does the work).
#include "daemon/common/log.hpp"
#include "daemon/sekishod/service.hpp"

namespace sekisho::daemon {

void Service::enforce_cloud(const policy::Policy& policy) {
  std::optional<cloud::BridgeConfig> config = cloud::bridge_config(policy);
  if (!config) {
    if (bridge_) {
      log_notice(
          "cloud: the policy has no cloud.mqtt any more; the bridge stops (the outbox "
          "keeps what it holds)");
      bridge_.reset();
    }
    return;
  }
  if (bridge_ && bridge_->config() == *config) {
    return;
  }
  // A changed configuration starts over: both connections are made again, and the outbox
  // (the same file) keeps every message.
  bridge_.reset();
  cloud::BridgeHooks hooks;
  hooks.record = [this](const std::string& kind, const nlohmann::json& details) {
    auditor_.record(Auditor::daemon_actor(), kind, details);
  };
  hooks.record_or_refuse = [this](const std::string& kind, const nlohmann::json& details) {
    return auditor_.record_or_refuse(Auditor::daemon_actor(), kind, details);
  };
  auto bridge = std::make_unique<cloud::Bridge>(io_, std::move(*config), std::move(hooks));
  const std::string path = options_.state_dir + "/cloud-outbox.db";
  if (std::error_code error = bridge->start(path, !wan_close_wanted_)) {
    log_error("cloud: cannot open the outbox " + path + ": " + error.message() +
              "; no message is taken from the local broker (it keeps them) until a reload");
    auditor_.record(Auditor::daemon_actor(), "cloud.outbox",
                    {{"path", path}, {"problem", error.message()}});
    return;
  }
  bridge_ = std::move(bridge);
}

nlohmann::json Service::cloud_status_json() {
  if (!bridge_) {
    return {{"configured", current_ && current_->policy.cloud.has_value()}, {"running", false}};
  }
  nlohmann::json status = bridge_->status_json();
  status["configured"] = true;
  status["running"] = true;
  return status;
}

}  // namespace sekisho::daemon
