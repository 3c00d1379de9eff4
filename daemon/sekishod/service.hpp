#pragma once
// The running daemon: keeps the compiled policy in force in the kernel.
//
// - SIGHUP reloads the policy file; an invalid file or a refused ruleset is reported and
//   the running ruleset stays.
// - Drift (drift_guard.hpp): nftables change events tell who committed what; a commit by another
// process
//   that touched table inet sekisho is logged with that process and undone by applying
//   the compiled ruleset again. The generation id is also polled every second, so a lost
//   event cannot hide a change (then the table is read back and compared).
// - Commit-confirm: a policy applied over the control socket with a confirmation deadline
//   is rolled back to the last confirmed one unless confirmed in time, also across a
//   restart of the daemon (commit_confirm.hpp, pending.hpp).
// - WireGuard (vpn.hpp): each `vpn` of the policy in force is brought up after
//   the ruleset that governs it, and kept as declared (checked every few seconds).
// - Jump sessions (sessions.hpp): an operator lets one VPN peer reach one
//   maintenance target until a deadline the kernel enforces; sessions survive a restart
//   and a reload, and each one's connections are recorded from conntrack.
// - Operating hours (schedules.hpp, wan_link.hpp): scheduled rules open and
//   close with their schedules, and outside `wan.up` the WAN link is shut (gate, link
//   down, power hook) unless an override or a jump session keeps it up.
// - Cloud brokering (cloud.hpp, daemon/cloud): the local MQTT broker's whole
//   configuration and credentials are generated from the policy; uplink messages from it
//   are committed to an outbox before they are acknowledged and leave for the cloud
//   broker when the WAN is open; downlink messages are audited.
// - SIGTERM and SIGINT end the daemon and leave the ruleset in force.
// - One daemon per state directory: it holds STATE_DIR/sekishod.lock (StateLock) while it
//   runs; a second one exits 69.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/common/files.hpp"
#include "daemon/common/state_lock.hpp"
#include "daemon/control/method_table.hpp"
#include "daemon/control/server.hpp"
#include "daemon/net/conntrack.hpp"
#include "daemon/net/netlink_socket.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/nft/monitor.hpp"
#include "daemon/nft/socket.hpp"
#include "daemon/sekishod/auditor.hpp"
#include "daemon/sekishod/background_job.hpp"
#include "daemon/sekishod/cloud.hpp"
#include "daemon/sekishod/commit_confirm.hpp"
#include "daemon/sekishod/drift_guard.hpp"
#include "daemon/sekishod/enforcer.hpp"
#include "daemon/sekishod/exporter.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/hosted_plugin.hpp"
#include "daemon/sekishod/options.hpp"
#include "daemon/sekishod/refusals.hpp"
#include "daemon/sekishod/retries.hpp"
#include "daemon/sekishod/schedules.hpp"
#include "daemon/sekishod/sessions.hpp"
#include "daemon/sekishod/steering.hpp"
#include "daemon/sekishod/vpn.hpp"
#include "daemon/sekishod/wan_link.hpp"
#include "plugins/methods.hpp"
#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::daemon {

class Service : private Enforcer::Hooks, private Host {
 public:
  Service(boost::asio::io_context& io, Options options);

  // Loads, compiles and applies the policy, then starts watching. Returns 0 when the
  // daemon is running (call io.run()), else the exit code to leave with.
  int start();

  // What is wrong with the method table (a method without its handler); empty when each
  // method has exactly one. start() serves no control socket otherwise.
  std::vector<std::string> method_problems() const { return methods_.check(); }

 private:
  // Enforcer::Hooks: the subsystems' part of each apply.
  void fill(ir::Ruleset& ruleset, const policy::Policy& policy) override;
  void after_apply(const policy::Policy& policy) override;
  void before_policy(const policy::Policy& next) override;
  void after_policy(const policy::Policy& policy, bool ok) override;
  void foreign_change_replaced(const std::string& what) override {
    drift_.foreign_change_replaced(what);
  }
  bool restore(const std::string& what) override { return drift_.restore(what); }

  // The control socket (service_control.cpp).
  std::error_code start_control();
  // Its own methods, then each subsystem's.
  void bind_methods(control::MethodTable& table);
  nlohmann::json status_json();
  nlohmann::json audit_status_json();
  nlohmann::json audit_show_json(const nlohmann::json& params);
  BackgroundJob::Work audit_verify_work();
  nlohmann::json audit_export_json(const nlohmann::json& params, const audit::Actor& by);
  nlohmann::json export_job_json(const Exporter::Job& job);
  nlohmann::json export_chunk_json(Exporter::Job& job, const nlohmann::json& offset);
  void wait_for_signals();
  // Calls `hook` on each plugin's subsystem, in registry order (`reverse`: the other way),
  // guarded: a plugin's exception is logged, and the daemon goes on.
  void each_plugin(const char* what, const std::function<void(Subsystem&)>& hook,
                   bool reverse = false);

  // Host: what the subsystems get of the daemon.
  boost::asio::io_context& io() override { return io_; }
  const Options& options() const override { return options_; }
  Auditor& auditor() override { return auditor_; }
  void guarded(const char* what, const std::function<void()>& work) override;
  void every(boost::asio::steady_timer& timer, std::chrono::steady_clock::duration interval,
             const char* what, std::function<void()> work) override;

  boost::asio::io_context& io_;
  Options options_;
  Enforcer enforcer_;
  CommitConfirm commit_confirm_{*this, enforcer_};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer checkpoint_timer_;
  boost::asio::steady_timer schedule_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer confirmation_timer_;
  // Every control method (the core's and the plugins') with its handler; built once in the
  // constructor, read by control_.
  control::MethodTable methods_{plugins::all_methods()};
  std::unique_ptr<control::ControlServer> control_;
  // Held for the daemon's whole life: one sekishod per state directory, and no
  // decommission under it.
  StateLock state_lock_;
  Auditor auditor_;
  // Declared after the auditor whose key it signs with: destroyed (its thread joined) first.
  Exporter exporter_;
  RefusalCounter refusals_;
  RefusalCounter connection_refusals_;
  // Declared after the auditor they report to.
  Sessions sessions_{*this, enforcer_, enforcer_.conntrack_socket(), wan_link_};
  DriftGuard drift_{*this, enforcer_, {&sessions_}};
  // Declared after the auditor it reports to: destroyed (and a running power hook
  // killed) first.
  WanLink wan_link_{*this, enforcer_, enforcer_.route_socket(), sessions_, cloud_};
  // Declared after the auditor it reports to (its bridge's destructor commits
  // acknowledgements).
  Cloud cloud_{*this, enforcer_, wan_link_};
  // Declared after the auditor its tunnels report to, so they are destroyed (and
  // wireguard-go stopped) first.
  Vpn vpn_{*this};
  Schedules schedules_{*this, enforcer_, enforcer_.conntrack_socket(), wan_link_};
  Steering steering_{enforcer_.route_socket()};
  // The plugins' parts of the daemon (plugins/daemon_part.hpp), in registry order. Declared
  // after everything they are lent: destroyed first.
  std::vector<std::unique_ptr<HostedPlugin>> plugins_;
  // Long viewer calls, one of each kind at a time; destroyed first (a running one is
  // waited for).
  BackgroundJob audit_job_{io_, "audit verify"};
};

}  // namespace sekisho::daemon
