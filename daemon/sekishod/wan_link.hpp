#pragma once
// The WAN link outside operating hours (wan_link.cpp): the gate, the link itself and the
// power hook follow the decision of wan/link_state.hpp (forced down > jump-session hold >
// up override > the wan.up schedule), judged every second.

#include <chrono>
#include <optional>
#include <string>

#include "daemon/common/spare_descriptor.hpp"
#include "daemon/net/link_snapshot.hpp"
#include "daemon/net/netlink_socket.hpp"
#include "daemon/sekishod/enforcement.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/queries.hpp"
#include "daemon/sekishod/subsystem.hpp"
#include "daemon/wan/link_state.hpp"
#include "daemon/wan/power_hook.hpp"

namespace sekisho::daemon {

class WanLink final : public Subsystem, public WanQuery {
 public:
  // `route`: the Enforcer's rtnetlink socket, kept open so the link still goes down with
  // every other descriptor taken.
  WanLink(Host& host, Enforcement& enforcement, net::NetlinkSocket& route,
          const SessionQuery& sessions, WanCloseListener& cloud);

  // For writing wan.json when no other descriptor is free: the link goes down only with
  // its recording on disk. Taken at start, before the audit log's files.
  void reserve_descriptor() { spare_descriptor_.take(); }

  std::string_view name() const override { return "wan"; }
  // wan.json, and the gate of the first apply: as things are now.
  void open(const policy::Policy& first) override;
  // The WAN gate as wanted.
  void fill(ir::Ruleset& ruleset, const policy::Policy& policy) override;
  // The gate as the kernel holds it now.
  void after_apply(const policy::Policy& policy) override;
  // The link as the decision says, before anything else waits on it.
  void start() override { check_wan(); }
  void tick() override { check_wan(); }
  void status(nlohmann::json& out) override { out["wan"] = wan_status_json(); }
  void bind_methods(control::MethodTable& table) override;

  bool close_wanted() const override { return wan_close_wanted_; }
  bool close_deferred() const override { return wan_close_deferred_until_.has_value(); }
  std::optional<std::string> forced_down_why() const override;
  nlohmann::json wan_status_json() override;  // link.status
  void recheck() override { check_wan(); }

  // link.up, link.down, link.auto (`action`: "up", "down" or "auto").
  nlohmann::json link_request(const nlohmann::json& params, const audit::Actor& by,
                              const std::string& action);

 private:
  // False (and logged) when wan.json could not be written.
  bool save_wan_state();
  wan::LinkDecision decide_wan(const policy::Policy& policy, std::chrono::sys_seconds now) const;
  bool wan_forced_down() const;
  // Makes the WAN gate and link what the decision says now; records and runs the hook at
  // a transition. Every second, and after anything that changes the decision.
  void check_wan();
  bool change_wan_gate(bool closed);
  // A change of the WAN gate that failed with `error`, or took (empty): see note_retry.
  void note_wan_gate(bool closed, const std::string& error);
  std::string take_wan_link_down(const std::string& link, bool fresh);
  void release_wan_link();
  std::string bring_wan_link_up(const std::string& link, std::string& restored);
  void run_power_hook(const std::string& argument);
  void record_hook_result(const std::string& path, const wan::HookResult& result);

  Host& host_;
  Enforcement& enforcement_;
  net::NetlinkSocket& route_;
  const SessionQuery& sessions_;
  WanCloseListener& cloud_;
  // The override in force (STATE_DIR/wan.json), the gate as the kernel holds it and as the
  // decision wants it (they differ while the kernel refuses the change), what the link held
  // when sekishod set it down, and the last power hook's outcome.
  std::optional<wan::Override> wan_override_;
  std::string wan_override_unreadable_;  // why the stored one cannot be read (wan_state.hpp)
  bool wan_closed_ = false;
  bool wan_close_wanted_ = false;
  std::string wan_link_;             // the interface the last check judged ("" before the first)
  bool wan_link_held_down_ = false;  // the last check left it down
  bool wan_drift_reported_ = false;
  std::optional<net::LinkSnapshot> wan_snapshot_;
  nlohmann::json last_hook_;
  // While the WAN gate's closing waits for the cloud bridge's messages in flight: until when.
  std::optional<std::chrono::steady_clock::time_point> wan_close_deferred_until_;
  SpareDescriptor spare_descriptor_;
  // Last: destroyed (and a running hook killed) first, while what it reports to is there.
  wan::PowerHook power_hook_;
};

}  // namespace sekisho::daemon
