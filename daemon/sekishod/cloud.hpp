#pragma once
// Cloud brokering (policy cloud.mqtt): the local broker's credentials and configuration
// (daemon/cloud/local_broker.hpp) and the bridge (daemon/cloud/bridge.hpp) follow the
// policy in force, and the bridge follows the WAN gate. Uplink messages are committed to
// an outbox before they are acknowledged and leave for the cloud broker when the WAN is
// open; downlink messages are audited.

#include <memory>

#include "daemon/cloud/bridge.hpp"
#include "daemon/cloud/local_broker.hpp"
#include "daemon/sekishod/enforcement.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/queries.hpp"
#include "daemon/sekishod/subsystem.hpp"

namespace sekisho::daemon {

class Cloud final : public Subsystem, public WanCloseListener {
 public:
  Cloud(Host& host, Enforcement& enforcement, const WanQuery& wan);

  std::string_view name() const override { return "cloud"; }
  // The local broker's credentials, before its files follow the first policy enforced.
  void open(const policy::Policy& first) override;
  void after_policy(const policy::Policy& policy, bool ok) override;
  void tick() override;
  void bind_methods(control::MethodTable& table) override;
  void status(nlohmann::json& out) override { out["cloud"] = status_json(); }

  bool ready_for_close() override { return !bridge_ || bridge_->prepare_for_wan_close(); }
  void wan_open_changed(bool open) override;

  // A message of sekishod's own into the outbox (HostedPlugin::publish): false when the
  // policy in force brokers to no cloud.
  bool publish(const std::string& topic, std::string payload);
  nlohmann::json status_json();  // cloud.status
  nlohmann::json password_request(const nlohmann::json& params, const audit::Actor& by);

 private:
  Host& host_;
  Enforcement& enforcement_;
  const WanQuery& wan_;
  cloud::LocalBroker local_broker_;
  // After the local broker; its destructor commits acknowledgements to the auditor, which
  // the Host outlives.
  std::unique_ptr<cloud::Bridge> bridge_;
};

}  // namespace sekisho::daemon
