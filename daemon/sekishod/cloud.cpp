#include "daemon/sekishod/cloud.hpp"

#include <algorithm>

#include "daemon/common/log.hpp"
#include "daemon/control/protocol.hpp"
#include "daemon/sekishod/method_binding.hpp"
#include "daemon/sekishod/request_params.hpp"
#include "policy/reader.hpp"

namespace sekisho::daemon {

Cloud::Cloud(Host& host, Enforcement& enforcement, const WanQuery& wan)
    : host_(host),
      enforcement_(enforcement),
      wan_(wan),
      local_broker_(host.options().broker, host.options().state_dir) {}

void Cloud::open(const policy::Policy&) {
  std::vector<nlohmann::json> made;
  if (std::error_code error = local_broker_.open(made)) {
    log_error("cloud: cannot read the local broker's credentials: " + local_broker_.problem() +
              "; its files are left as they are");
    host_.auditor().record(Auditor::daemon_actor(), "cloud.credential",
                           {{"user", std::string(policy::kBrokerBridgeUserPrefix)},
                            {"action", "unreadable"},
                            {"why", local_broker_.problem()}});
  }
  for (const nlohmann::json& details : made) {
    host_.auditor().record(Auditor::daemon_actor(), "cloud.credential", details);
  }
  if (std::string other = cloud::debian_broker_problem(); !other.empty()) {
    log_warning("cloud: " + other);
  }
}

void Cloud::after_policy(const policy::Policy& policy, bool ok) {
  if (!ok) {
    return;
  }
  // The broker's files first, also without cloud.mqtt (then it keeps only sekishod's
  // socket): what the policy no longer names loses its access now.
  (void)local_broker_.configure(policy);
  std::optional<cloud::BridgeConfig> config = cloud::bridge_config(
      policy, host_.options().broker.socket, local_broker_.username(), local_broker_.password());
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
    host_.auditor().record(Auditor::daemon_actor(), kind, details);
  };
  hooks.record_or_refuse = [this](const std::string& kind, const nlohmann::json& details) {
    return host_.auditor().record_or_refuse(Auditor::daemon_actor(), kind, details);
  };
  auto bridge = std::make_unique<cloud::Bridge>(host_.io(), std::move(*config), std::move(hooks));
  const std::string path = host_.options().state_dir + "/cloud-outbox.db";
  if (std::error_code error = bridge->start(path, !wan_.close_wanted())) {
    log_error("cloud: cannot open the outbox " + path + ": " + error.message() +
              "; no message is taken from the local broker (it keeps them) until a reload");
    host_.auditor().record(Auditor::daemon_actor(), "cloud.outbox",
                           {{"path", path}, {"problem", error.message()}});
    return;
  }
  bridge_ = std::move(bridge);
}

void Cloud::tick() {
  const bool cloud = enforcement_.has_current() && enforcement_.current().policy.cloud.has_value();
  if (!local_broker_.problem().empty()) {
    (void)local_broker_.configure(enforcement_.current().policy);  // the directory may be there now
  }
  local_broker_.tick(cloud);
  if (bridge_) {
    if (!wan_.close_deferred()) {
      bridge_->set_wan_open(!wan_.close_wanted());
    }
    bridge_->tick();
  }
}

void Cloud::wan_open_changed(bool open) {
  if (bridge_) {
    bridge_->set_wan_open(open);
  }
}

nlohmann::json Cloud::status_json() {
  nlohmann::json status;
  if (!bridge_) {
    status = {{"configured",
               enforcement_.has_current() && enforcement_.current().policy.cloud.has_value()},
              {"running", false}};
  } else {
    status = bridge_->status_json();
    status["configured"] = true;
    status["running"] = true;
  }
  status["broker"] = local_broker_.status_json(enforcement_.current().policy);
  return status;
}

nlohmann::json Cloud::password_request(const nlohmann::json& params, const audit::Actor& by) {
  const nlohmann::json* value =
      params.is_object() && params.contains("publisher") ? &params["publisher"] : nullptr;
  if (!value || !value->is_string() || !policy::is_valid_name(value->get<std::string>())) {
    throw invalid("publisher must be a host name");
  }
  const std::string name = value->get<std::string>();
  const std::vector<std::string> publishers =
      cloud::broker_publishers(enforcement_.current().policy);
  if (!std::binary_search(publishers.begin(), publishers.end(), name)) {
    throw control::ControlError(
        control::ErrorCode::NotFound,
        "'" + name + "' is not a publisher of the policy in force (cloud.mqtt.publishers" +
            (publishers.empty() ? " names none" : ": " + nlohmann::json(publishers).dump()) + ")");
  }
  std::string problem;
  std::optional<cloud::StagedPassword> staged = local_broker_.stage_password(name, problem);
  if (!staged) {
    throw std::runtime_error("cannot make a password for " + name + ": " + problem);
  }
  // Recorded (without the password) before it counts, or not given at all.
  const nlohmann::json details = {{"user", name}, {"action", staged->rotated ? "rotated" : "made"}};
  if (!host_.auditor().record_or_refuse(by, "cloud.credential", details)) {
    throw control::ControlError(control::ErrorCode::AuditUnavailable,
                                "the audit log cannot be written: no password is made");
  }
  nlohmann::json result = {
      {"publisher", name},
      {"username", name},
      {"rotated", staged->rotated},
      {"broker", enforcement_.current().policy.cloud
                     ? enforcement_.current().policy.cloud->local_broker_address.to_string() + ":" +
                           std::to_string(enforcement_.current().policy.cloud->local_broker_port)
                     : ""}};
  if (std::error_code error =
          local_broker_.commit_password(*staged, enforcement_.current().policy)) {
    // Stored or not, the broker does not know it yet: say so with the password, which
    // works once the problem is fixed (if it was stored) and is not shown again.
    result["problem"] = local_broker_.problem();
  }
  log_notice("cloud: " + by.user + " " + (staged->rotated ? "replaced" : "made") +
             " the local broker password of " + name);
  result["password"] = std::move(staged->password);
  return result;
}

bool Cloud::publish(const std::string& topic, std::string payload) {
  if (!bridge_) {
    return false;
  }
  bridge_->publish_own(topic, std::move(payload));
  return true;
}

void Cloud::bind_methods(control::MethodTable& table) {
  using Call = control::MethodTable::Call;
  table.bind(control::kCloudStatus, [this](const Call&) { return status_json(); });
  table.bind(control::kCloudPassword, [this](const Call& call) {
    return password_request(call.params(), actor_of(call.caller));
  });
}

}  // namespace sekisho::daemon
