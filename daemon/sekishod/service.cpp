#include "daemon/sekishod/service.hpp"

#include <cerrno>
#include <cstdlib>

#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/clock.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/common/test_hooks.hpp"
#include "daemon/net/rtnl.hpp"
#include "daemon/nft/apply.hpp"
#include "daemon/nft/batch.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishod/last_good.hpp"
#include "daemon/sekishod/notify.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/open_schedules.hpp"

namespace sekisho::daemon {

namespace {

using namespace std::chrono_literals;

// Schedules and the WAN link are judged by the wall clock every second: a transition is
// at most a second late, and a clock step (NTP, suspend) is noticed at the next tick.
constexpr auto kSchedulePoll = 1s;

}  // namespace

Service::Service(boost::asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      enforcer_(options_, auditor_, *this),
      signals_(io, SIGHUP, SIGTERM, SIGINT),
      checkpoint_timer_(io),
      schedule_timer_(io),
      watchdog_timer_(io),
      confirmation_timer_(io),
      exporter_(io),
      refusals_(
          [this](const audit::Actor& actor, const std::string& method, std::int64_t pid) {
            auditor_.record(actor, "control.refused", {{"method", method}, {"pid", pid}});
          },
          [this](const RefusalCounter::Summary& summary) {
            log_warning("control: refused " + summary_text(summary, "requests"));
            auditor_.record(summary.without_role ? Auditor::daemon_actor() : summary.actor,
                            "control.refused", summary_details(summary));
          }),
      // Connections over a cap: only counted.
      connection_refusals_([](const audit::Actor&, const std::string&, std::int64_t) {},
                           [this](const RefusalCounter::Summary& summary) {
                             log_warning("control: refused " +
                                         summary_text(summary, "connections") + " (over a cap)");
                             auditor_.record(
                                 summary.without_role ? Auditor::daemon_actor() : summary.actor,
                                 "control.connections_refused", summary_details(summary));
                           },
                           0) {
  for (const plugins::RegisteredDaemonPart& registered : plugins::daemon_parts()) {
    plugins_.push_back(std::make_unique<HostedPlugin>(
        static_cast<Host&>(*this), enforcer_, registered.plugin, *registered.part,
        [this](const std::string& topic, std::string payload) {
          return cloud_.publish(topic, std::move(payload));
        }));
    drift_.add_owner(&plugins_.back()->subsystem());
  }
  bind_methods(methods_);
}

void Service::each_plugin(const char* what, const std::function<void(Subsystem&)>& hook,
                          bool reverse) {
  const std::size_t count = plugins_.size();
  for (std::size_t i = 0; i < count; ++i) {
    HostedPlugin& plugin = *plugins_[reverse ? count - 1 - i : i];
    guarded(what, [&] { hook(plugin.subsystem()); });
  }
}

void Service::fill(ir::Ruleset& ruleset, const policy::Policy& policy) {
  schedules_.fill(ruleset, policy);
  wan_link_.fill(ruleset, policy);
  sessions_.fill(ruleset, policy);
  steering_.fill(ruleset, policy);
  each_plugin("plugin fill", [&](Subsystem& plugin) { plugin.fill(ruleset, policy); });
}

void Service::after_apply(const policy::Policy& policy) {
  wan_link_.after_apply(policy);
  sessions_.after_apply(policy);
  steering_.after_apply(policy);
  each_plugin("plugin after apply", [&](Subsystem& plugin) { plugin.after_apply(policy); });
}

void Service::before_policy(const policy::Policy& next) {
  sessions_.before_policy(next);
  each_plugin("plugin before policy", [&](Subsystem& plugin) { plugin.before_policy(next); });
}

void Service::after_policy(const policy::Policy& policy, bool ok) {
  sessions_.after_policy(policy, ok);
  if (ok) {
    // The VPN follows the ruleset that governs its zone, never the other way round.
    vpn_.after_policy(policy, true);
    cloud_.after_policy(policy, true);
    for (auto& plugin : plugins_) {
      guarded("plugin log groups", [&] { plugin->follow_ruleset(); });
    }
  }
  each_plugin("plugin after policy", [&](Subsystem& plugin) { plugin.after_policy(policy, ok); });
}

int Service::start() {
  std::optional<Loaded> loaded = commit_confirm_.load(true);
  if (!loaded && has_pending(options_.state_dir)) {
    // An unconfirmed policy may be in the kernel: exiting would leave it there. The
    // confirmed text in last-good is what a rollback restores.
    policy::LoadResult last_good = policy::load_policy_file(last_good_path(options_.state_dir));
    if (last_good.policy) {
      log_warning("a confirmation is pending and " + options_.policy_path +
                  " does not load: rolling back to " + last_good_path(options_.state_dir));
      loaded = Loaded{std::move(*last_good.policy), {}, std::move(last_good.text)};
      loaded->ruleset = policy::compile(loaded->policy);
    }
  }
  if (!loaded) {
    return kExitConfig;
  }
  // Test builds may make the kernel drop events (a tiny buffer) to test the readback path.
  const int event_buffer = test_hooks::event_buffer().value_or(nft::ChangeMonitor::kReceiveBuffer);
  if (int code = enforcer_.open(event_buffer); code != kExitOk) {
    return code;
  }
  ::mkdir(options_.state_dir.c_str(), 0700);
  if (std::error_code error = state_lock_.acquire(options_.state_dir)) {
    if (StateLock::busy(error)) {
      log_error("another sekishod is using " + options_.state_dir + " (it holds " +
                StateLock::path_in(options_.state_dir) + ")");
      return kExitUnavailable;
    }
    // Only a holder is a reason to stop: a state directory we cannot write (read-only,
    // full) must not keep the firewall from being enforced; the audit log says so too.
    log_warning("cannot lock " + StateLock::path_in(options_.state_dir) + ": " + error.message() +
                "; running without the state-directory lock");
  }
  auditor_.set_checkpoint_every(loaded->policy.audit.checkpoint_every_seconds);
  wan_link_.reserve_descriptor();
  auditor_.open(options_.state_dir);
  exporter_.open(options_.state_dir);
  nlohmann::json start_details = {{"policy", options_.policy_path}, {"pid", ::getpid()}};
  if (!auditor_.key_problem().empty()) {
    start_details["key_problem"] = auditor_.key_problem();
  }
  auditor_.record(Auditor::daemon_actor(), "daemon.start", start_details);
  // Signed at once: what a crash left unsigned before it is covered now, and the start in
  // time (docs/audit-format.md, "Checkpoints in time").
  auditor_.checkpoint();
  // Before the first apply: the broker's files follow the first policy enforced, the open
  // sessions go into the first ruleset with their remaining time, and its WAN gate is as
  // things are now.
  cloud_.open(loaded->policy);
  sessions_.open(loaded->policy);
  wan_link_.open(loaded->policy);
  each_plugin("plugin open", [&](Subsystem& plugin) { plugin.open(loaded->policy); });
  if (!commit_confirm_.start_enforcing(std::move(*loaded))) {
    return kExitNegative;
  }
  sessions_.start();
  schedules_.start();
  wan_link_.start();  // the link as the decision says, before anything else waits on it
  if (!drift_.watch()) {
    return kExitUnavailable;
  }
  if (std::error_code error = start_control()) {
    log_error("cannot serve the control socket " + options_.control_path + ": " + error.message());
    return kExitUnavailable;
  }
  wait_for_signals();
  drift_.start();
  // Two guards: a failing schedule check must not keep the WAN gate from closing.
  every(schedule_timer_, kSchedulePoll, "schedule and WAN check", [this] {
    guarded("schedule check", [this] { schedules_.tick(); });
    guarded("WAN check", [this] { wan_link_.tick(); });
    guarded("cloud check", [this] { cloud_.tick(); });
    for (auto& plugin : plugins_) {
      guarded("plugin log groups", [&] { plugin->follow_ruleset(); });  // a refused bind again
    }
    each_plugin("plugin tick", [](Subsystem& plugin) { plugin.tick(); });
  });
  vpn_.start();
  each_plugin("plugin start", [](Subsystem& plugin) { plugin.start(); });
  auditor_.retain(commit_confirm_.confirmed_policy().audit, std::chrono::system_clock::now());
  auditor_.checkpoint();  // the records of the start
  // Every record is signed within the policy's audit.checkpoint_every (a reload may change
  // it): looked at every 10 s. Retention every 10 minutes.
  constexpr auto kCheckpointTick = 10s;
  every(checkpoint_timer_, kCheckpointTick, "audit checkpoint and retention",
        [this, ticks = std::int64_t{0}]() mutable {
          auditor_.set_checkpoint_every(
              commit_confirm_.confirmed_policy().audit.checkpoint_every_seconds);
          auditor_.checkpoint_if_due(kCheckpointTick);
          if (++ticks % 60 == 0) {
            auditor_.retain(commit_confirm_.confirmed_policy().audit,
                            std::chrono::system_clock::now());
          }
        });
  every(confirmation_timer_, 1s, "confirmation deadline and refusal counts", [this] {
    commit_confirm_.tick();
    refusals_.flush(RefusalCounter::Clock::now());
    connection_refusals_.flush(RefusalCounter::Clock::now());
  });
  if (auto interval = watchdog_interval()) {
    notify_watchdog();
    every(watchdog_timer_, *interval, "watchdog", [] { notify_watchdog(); });
  }
  notify_ready("enforcing " + options_.policy_path);
  log_notice("enforcing " + options_.policy_path + "; SIGHUP reloads it");
  return kExitOk;
}

// The handler's wait is armed again by its caller.
void Service::guarded(const char* what, const std::function<void()>& work) {
  enforcer_.guarded(what, work);
}

void Service::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& error, int signal) {
    if (error) {
      return;
    }
    if (signal == SIGHUP) {
      guarded("reload", [this] { commit_confirm_.reload(); });
      wait_for_signals();
      return;
    }
    log_notice(std::string("stopping on ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
               "; the ruleset stays in force");
    // In the reverse of their start; each may still audit what it ends.
    each_plugin(
        "stopping", [](Subsystem& plugin) { plugin.stop(); }, true);
    for (auto& plugin : plugins_) {
      guarded("stopping", [&] { plugin->drain(); });  // its threads are joined now
      guarded("stopping", [&] { plugin->stop_children(); });
    }
    for (Subsystem* subsystem : std::initializer_list<Subsystem*>{
             &vpn_, &drift_, &wan_link_, &schedules_, &sessions_, &cloud_, &commit_confirm_}) {
      guarded("stopping", [subsystem] { subsystem->stop(); });
    }
    refusals_.flush(RefusalCounter::Clock::now(), true);
    connection_refusals_.flush(RefusalCounter::Clock::now(), true);
    auditor_.record(Auditor::daemon_actor(), "daemon.stop",
                    {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    auditor_.checkpoint();
    notify_stopping();
    io_.stop();
  });
}

// Runs `work` every `interval` on `timer`, guarded, until the loop stops.
void Service::every(boost::asio::steady_timer& timer, std::chrono::steady_clock::duration interval,
                    const char* what, std::function<void()> work) {
  timer.expires_after(interval);
  timer.async_wait([this, &timer, interval, what,
                    work = std::move(work)](const boost::system::error_code& error) mutable {
    if (error) {
      return;
    }
    guarded(what, work);
    every(timer, interval, what, std::move(work));
  });
}

}  // namespace sekisho::daemon
