// The WAN link outside operating hours (JPCERT/CC W-2; docs/architecture.md, Kernel layout). While
// the link is to be down (wan/link_state.hpp: forced down > jump-session hold > up
// override > the wan.up schedule) sekishod
//  1. closes the WAN gate (set wan_closed): nothing passes through the link any more,
//     not even when someone brings it up by hand;
//  2. records the link's addresses and routes (STATE_DIR/wan.json) and sets it down;
//  3. runs the power hook with "off".
// At opening it runs the hook with "on", sets the link up, restores exactly what it
// recorded (a link set down loses its IPv4 routes and its IPv6 addresses) and opens the
// gate. Every second it compares the decision with the gate and the link, so a restart or
// a clock jump ends in the state the schedule and the overrides say now, not in the one
// sekishod left.
#include "daemon/sekishod/wan_link.hpp"

#include <chrono>

#include "daemon/common/clock.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/test_hooks.hpp"
#include "daemon/net/rtnl.hpp"
#include "daemon/sekishod/method_binding.hpp"
#include "daemon/sekishod/request_params.hpp"
#include "daemon/sekishod/wan_state.hpp"
#include "policy/compile.hpp"
#include "policy/open_schedules.hpp"
#include "policy/units.hpp"

namespace sekisho::daemon {

namespace {

// A `link up` lasts at most this long: a WAN kept up outside hours is an exception with an
// end, not a new schedule.
constexpr std::int64_t kMaxUpOverrideSeconds = 7 * 24 * 3600;
// A forced down with a deadline: a year at most (without one it lasts until link auto).
constexpr std::int64_t kMaxDownOverrideSeconds = 366 * 24 * 3600;

std::chrono::sys_seconds schedule_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(schedule_clock_now());
}

// Where the power hook is looked for: /etc/sekisho/hooks, or in test builds the directory
// in $SEKISHO_TEST_HOOKS_DIR standing in for it (the lab cannot write /etc).
std::string hooks_dir() {
  return test_hooks::hooks_dir().value_or(wan::kHooksDir);
}

std::string hook_path(const std::string& policy_path) {
  const std::string prefix = std::string(wan::kHooksDir) + "/";
  if (policy_path.rfind(prefix, 0) == 0) {
    return hooks_dir() + "/" + policy_path.substr(prefix.size());
  }
  return policy_path;  // the parser allows nothing else; untrusted_hook refuses it
}

}  // namespace

WanLink::WanLink(Host& host, Enforcement& enforcement, net::NetlinkSocket& route,
                 const SessionQuery& sessions, WanCloseListener& cloud)
    : host_(host),
      enforcement_(enforcement),
      route_(route),
      sessions_(sessions),
      cloud_(cloud),
      power_hook_(host.io()) {}

void WanLink::fill(ir::Ruleset& ruleset, const policy::Policy& policy) {
  policy::fill_wan_gate(ruleset, policy, wan_close_wanted_);
}

void WanLink::after_apply(const policy::Policy& policy) {
  wan_closed_ = policy.wan && wan_close_wanted_;
}

void WanLink::open(const policy::Policy& policy) {
  StoredWanState stored = read_wan_state(host_.options().state_dir);
  for (const std::string& problem : stored.problems) {
    log_warning(problem);
  }
  wan_override_ = stored.override_;
  wan_override_unreadable_ = stored.override_unreadable;
  wan_snapshot_ = std::move(stored.snapshot);
  // The gate of the first apply: as things are now (a restart is no reason to open it),
  // and closed while a forced down is stored, whatever its deadline says; the first check
  // after it judges the deadline (only by a synchronised clock), records the override's
  // end and opens the gate. An override that cannot be read keeps it closed until an
  // operator sets or clears one.
  wan_close_wanted_ =
      policy.wan && (!decide_wan(policy, schedule_now()).up || forced_down_stored(stored));
}

bool WanLink::save_wan_state() {
  const std::string text =
      wan_state_json(wan_override_, wan_override_unreadable_, wan_snapshot_).dump(2) + "\n";
  if (std::error_code error = spare_descriptor_.with_spare([&] {
        return write_file_atomically(wan_state_path(host_.options().state_dir), text, 0600);
      })) {
    log_warning("cannot save " + wan_state_path(host_.options().state_dir) + ": " +
                error.message() +
                " (a restart would forget the link override or the recorded WAN configuration)");
    return false;
  }
  return true;
}

wan::LinkDecision WanLink::decide_wan(const policy::Policy& policy,
                                      std::chrono::sys_seconds now) const {
  wan::LinkInputs inputs;
  if (policy.wan && policy.wan->up) {
    inputs.schedule = policy.wan->up->name;
    inputs.schedule_open = policy::schedule_open(policy, inputs.schedule, now);
  }
  inputs.override_ = wan_override_;
  inputs.now = now;
  inputs.clock_synchronised = clock_synchronised();
  inputs.override_unreadable = wan_override_unreadable_;
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  inputs.holding_sessions = sessions_.holding(now_ms);
  return wan::decide_link(inputs);
}

bool WanLink::change_wan_gate(bool closed) {
  // A change the other way that never took is no longer wanted.
  enforcement_.forget_retry(closed ? "wan-gate-open" : "wan-gate-close");
  wan_close_wanted_ = closed;
  const ir::Ruleset& ruleset = enforcement_.current().ruleset;
  if (!ruleset.runtime.wan_gate) {
    wan_closed_ = closed;
    return true;
  }
  const ir::SetId gate = *ruleset.runtime.wan_gate;
  // The gate as it is to be, filled in a copy of it: the ruleset in force keeps what the
  // kernel holds until the kernel has it.
  ir::Ruleset wanted;
  wanted.runtime.wan_gate = wanted.add_set(ruleset.at(gate));
  policy::fill_wan_gate(wanted, enforcement_.current().policy, closed);
  const std::vector<ir::Element>& held = ruleset.at(gate).elements;
  const std::vector<ir::Element>& after = wanted.at(*wanted.runtime.wan_gate).elements;
  bool applied = held.empty() == after.empty();
  if (!applied) {
    applied = enforcement_.change_elements({SetChange{gate, held, after, after}},
                                           closed ? "WAN gate closed" : "WAN gate opened");
  }
  if (applied) {
    wan_closed_ = closed;
  }
  note_wan_gate(closed, applied ? "" : enforcement_.last_kernel_error());
  return applied;
}

void WanLink::note_wan_gate(bool closed, const std::string& error) {
  enforcement_.note_retry(closed ? "wan-gate-close" : "wan-gate-open",
                          std::string(closed ? "close" : "open") + " the WAN gate of " +
                              enforcement_.current().policy.wan->interface.name,
                          error);
}

void WanLink::run_power_hook(const std::string& argument) {
  const policy::Policy& policy = enforcement_.current().policy;
  if (!policy.wan || policy.wan->power_hook.empty()) {
    return;
  }
  const std::string path = hook_path(policy.wan->power_hook);
  log_notice("WAN power hook: " + path + " " + argument);
  power_hook_.run(path, hooks_dir(), argument, [this, path](wan::HookResult done) {
    host_.guarded("WAN power hook record", [&] { record_hook_result(path, done); });
  });
}

void WanLink::record_hook_result(const std::string& path, const wan::HookResult& result) {
  {
    const std::string outcome = result.describe();
    (result.ok() ? log_notice
                 : log_error)("WAN power hook " + path + " " + result.argument + ": " + outcome);
    nlohmann::json details = {{"hook", path},
                              {"argument", result.argument},
                              {"ok", result.ok()},
                              {"outcome", outcome},
                              {"took_ms", result.took.count()}};
    if (!result.error.empty()) {
      details["refused"] = result.error;
    } else if (result.timed_out) {
      details["timed_out"] = true;
    } else if (result.signal != 0) {
      details["signal"] = result.signal;
    } else {
      details["exit_status"] = result.exit_status;
    }
    host_.auditor().record(Auditor::daemon_actor(), "wan.hook", details);
    last_hook_ = details;
  }
}

// Takes the WAN link down, recording its configuration first: afresh at a transition
// (`fresh`); a link someone set up by hand is set down again with the recording it had.
std::string WanLink::take_wan_link_down(const std::string& link, bool fresh) {
  net::LinkInfo info;
  if (std::error_code error = net::get_link(route_, link, info)) {
    return "cannot find link " + link + ": " + error.message();
  }
  if (!info.up()) {
    return {};
  }
  if (fresh || !wan_snapshot_ || wan_snapshot_->link != link) {
    net::LinkSnapshot snapshot;
    if (std::error_code error = net::take_snapshot(route_, link, snapshot)) {
      // The gate is closed whatever happens here: nothing passes the link.
      return "cannot record the addresses and routes of " + link + " (" + error.message() +
             "); the link stays up behind the closed gate";
    }
    wan_snapshot_ = std::move(snapshot);
    if (!save_wan_state()) {
      // Set down without its recording on disk, a restart could not bring it back.
      return "cannot save what " + link + " holds in " + wan_state_path(host_.options().state_dir) +
             "; the link stays up behind the closed gate";
    }
  }
  if (std::error_code error = net::set_link_up(route_, link, false)) {
    return "cannot set " + link + " down: " + error.message();
  }
  return {};
}

// Brings the link up and restores what take_wan_link_down recorded; "" when it worked.
std::string WanLink::bring_wan_link_up(const std::string& link, std::string& restored) {
  if (std::error_code error = net::set_link_up(route_, link, true)) {
    return "cannot set " + link + " up: " + error.message();
  }
  if (!wan_snapshot_) {
    return {};
  }
  net::RestoreReport report;
  std::error_code error = net::restore_snapshot(route_, *wan_snapshot_, report);
  restored = net::to_string(report);
  wan_snapshot_.reset();
  save_wan_state();
  if (error) {
    return "restoring the addresses and routes of " + link + ": " + restored;
  }
  return {};
}

// A link whose recording the policy no longer covers (its wan went, or moved to another
// interface) gets its configuration back, as at an opening.
void WanLink::release_wan_link() {
  const std::string link = wan_snapshot_->link;
  std::string restored;
  std::string problem;
  net::LinkInfo info;
  if (std::error_code error = net::get_link(route_, link, info)) {
    problem = "cannot find link " + link + ": " + error.message();
    wan_snapshot_.reset();  // gone: nothing to give back
    save_wan_state();
  } else {
    problem = bring_wan_link_up(link, restored);
  }
  log_notice("the policy no longer powers " + link + " down: set up again" +
             (restored.empty() ? "" : " (" + restored + ")") +
             (problem.empty() ? "" : "; " + problem));
  nlohmann::json details = {{"link", link},
                            {"cause", "policy"},
                            {"why", "the policy in force no longer powers " + link + " down"}};
  if (!restored.empty()) {
    details["restored"] = restored;
  }
  if (!problem.empty()) {
    details["problem"] = problem;
  }
  host_.auditor().record(Auditor::daemon_actor(), "wan.up", details);
}

void WanLink::check_wan() {
  if (!enforcement_.has_current()) {
    return;
  }
  const policy::Policy& policy = enforcement_.current().policy;
  if (wan_snapshot_ && (!policy.wan || policy.wan->interface.name != wan_snapshot_->link)) {
    release_wan_link();
  }
  if (!policy.wan) {
    wan_closed_ = false;
    wan_close_wanted_ = false;
    wan_link_.clear();
    wan_close_deferred_until_.reset();  // the closing it waited for is off
    return;
  }
  const auto now = schedule_now();
  if (wan_override_ && wan_override_->expired(now, clock_synchronised())) {
    host_.auditor().record(
        Auditor::daemon_actor(), "link.auto",
        {{"link", policy.wan->interface.name},
         {"reason", "the link " + std::string(wan::kind_name(wan_override_->kind)) +
                        " override by " + wan_override_->by + " expired"},
         {"override", wan::to_json(*wan_override_)}});
    log_notice("link " + std::string(wan::kind_name(wan_override_->kind)) + " override by " +
               wan_override_->by + " expired");
    wan_override_.reset();
    save_wan_state();
  }
  const wan::LinkDecision decision = decide_wan(policy, now);
  const std::string& link = policy.wan->interface.name;
  // The first check after a start, or after a reload that named another interface, makes
  // the link what the decision says, as a transition would (the gate of that apply already
  // follows the decision).
  const bool first = wan_link_ != link;
  if (first) {
    wan_link_ = link;
    wan_link_held_down_ = false;
  }
  net::LinkInfo info;
  const bool found = !net::get_link(route_, link, info);
  if (!decision.up) {
    const bool was_up = found && info.up();
    const bool changed = !wan_close_wanted_ || (first && was_up);
    // Messages in flight to the cloud get a second to be acknowledged, so none is cut off
    // half-sent (it would come again after the opening, a duplicate); a start, or a gate
    // closed already, does not wait.
    if (changed && !wan_close_wanted_ && !first && !cloud_.ready_for_close()) {
      const auto waited = std::chrono::steady_clock::now();
      if (!wan_close_deferred_until_) {
        wan_close_deferred_until_ = waited + std::chrono::seconds(1);
        log_info("WAN link " + link +
                 ": waiting up to a second for the cloud broker to "
                 "acknowledge the messages in flight");
      }
      if (waited < *wan_close_deferred_until_) {
        return;
      }
    }
    wan_close_deferred_until_.reset();
    if (changed) {
      log_notice("WAN link " + link + " goes down: " + decision.why);
    }
    // At the transition, and at every check after until the kernel has it.
    bool gate_applied = wan_closed_ && !changed;
    if (gate_applied) {
      note_wan_gate(true, "");  // a closing refused before may have taken with a restore
    } else {
      gate_applied = change_wan_gate(true);
    }
    if (changed) {
      cloud_.wan_open_changed(false);
    }
    const std::string problem = take_wan_link_down(link, changed);
    // Up again after it was down: someone set it up (a link that could not be set down
    // stays up and is retried quietly, not recorded every second).
    const bool drift = !changed && was_up && wan_link_held_down_;
    wan_link_held_down_ = found && problem.empty();
    if (changed) {
      nlohmann::json details = {{"link", link},
                                {"cause", wan::cause_name(decision.cause)},
                                {"why", decision.why},
                                {"gate", "closed"},
                                {"gate_applied", gate_applied},
                                {"at_start", first},
                                {"link_set_down", was_up && problem.empty()}};
      if (wan_snapshot_) {
        details["recorded_addresses"] = wan_snapshot_->addresses.size();
        details["recorded_routes"] = wan_snapshot_->routes.size();
      }
      if (!found) {
        details["problem"] = "no link " + link;
      } else if (!problem.empty()) {
        details["problem"] = problem;
        log_error("WAN link " + link + ": " + problem);
      }
      host_.auditor().record(Auditor::daemon_actor(), "wan.down", details);
      run_power_hook("off");
    } else if (drift) {
      // Someone set the link up while it is to be down: the gate kept it shut meanwhile.
      log_warning("WAN link " + link + " was set up by someone else while it is to be down (" +
                  decision.why + "); set down again" + (problem.empty() ? "" : ": " + problem) +
                  ". 'sekishoctl link up --for DURATION --reason TEXT' keeps it up");
      host_.auditor().record(Auditor::daemon_actor(), "wan.drift",
                             {{"link", link},
                              {"found", "up"},
                              {"expected", "down"},
                              {"why", decision.why},
                              {"restored", problem.empty()}});
    }
    wan_drift_reported_ = false;
    return;
  }
  // To be up. A closing that waited for the cloud bridge is off: the schedule check's
  // set_wan_open(true) lets the bridge send again.
  wan_close_deferred_until_.reset();
  wan_link_held_down_ = false;
  const bool changed = wan_close_wanted_ || (first && found && !info.up() && wan_snapshot_);
  if (changed) {
    log_notice("WAN link " + link + " comes up: " + decision.why);
    run_power_hook("on");
  }
  std::string restored;
  std::string problem;
  // Only a link sekishod took down is brought up (by the recording it made, or at this
  // transition); a link someone else set down stays theirs.
  if (found && !info.up() && (changed || wan_snapshot_)) {
    problem = bring_wan_link_up(link, restored);
  } else if (found && !info.up() && !wan_drift_reported_) {
    log_warning("WAN link " + link + " is down though it is to be up (" + decision.why +
                "); sekishod did not set it down and leaves it so");
    wan_drift_reported_ = true;
  } else if (found && info.up()) {
    wan_drift_reported_ = false;
    if (wan_snapshot_ && !changed) {
      // Up by other means (a reboot, networkd): what it holds now is current; the old
      // recording must not come back at a later opening.
      wan_snapshot_.reset();
      save_wan_state();
    }
  }
  if (changed) {
    const bool gate_applied = change_wan_gate(false);
    nlohmann::json details = {{"link", link},
                              {"cause", wan::cause_name(decision.cause)},
                              {"why", decision.why},
                              {"gate", "open"},
                              {"gate_applied", gate_applied},
                              {"at_start", first}};
    if (!restored.empty()) {
      details["restored"] = restored;
    }
    if (!found) {
      details["problem"] = "no link " + link;
    } else if (!problem.empty()) {
      details["problem"] = problem;
      log_error("WAN link " + link + ": " + problem);
    }
    host_.auditor().record(Auditor::daemon_actor(), "wan.up", details);
  } else {
    if (!problem.empty()) {
      log_error("WAN link " + link + ": " + problem);
    }
    if (wan_closed_) {
      change_wan_gate(false);  // an opening the kernel refused, again
    } else {
      note_wan_gate(false, "");  // or it took with a restore
    }
  }
}

nlohmann::json WanLink::link_request(const nlohmann::json& params, const audit::Actor& by,
                                     const std::string& action) {
  const policy::Policy& policy = enforcement_.current().policy;
  if (!policy.wan) {
    throw invalid("the policy has no wan: there is no link to power");
  }
  const std::string reason = text_param(params, "reason", true);
  const auto now = schedule_now();
  std::optional<std::int64_t> seconds;
  if (params.contains("for_seconds") && !params.at("for_seconds").is_null()) {
    seconds = seconds_param(params, "for_seconds");
    if (*seconds <= 0) {
      throw invalid("the duration must be positive");
    }
  }
  const std::string& link = policy.wan->interface.name;
  std::optional<wan::Override> next;
  if (action == "up" || action == "down") {
    wan::Override override_;
    override_.kind = action == "up" ? wan::OverrideKind::Up : wan::OverrideKind::Down;
    override_.since = now;
    override_.by = by.user;
    override_.reason = reason;
    if (action == "up") {
      if (!seconds) {
        throw invalid("link up needs a duration (for_seconds): it keeps the link up until then");
      }
      if (*seconds > kMaxUpOverrideSeconds) {
        throw invalid("link up lasts at most " + policy::format_duration(kMaxUpOverrideSeconds) +
                      "; for longer, change wan.up in the policy");
      }
    }
    if (seconds && *seconds > kMaxDownOverrideSeconds) {
      throw invalid("a link override lasts at most " +
                    policy::format_duration(kMaxDownOverrideSeconds) +
                    "; without --for, link down lasts until link auto");
    }
    if (seconds) {
      override_.until = now + std::chrono::seconds(*seconds);
    }
    next = override_;
  }
  nlohmann::json details = {{"link", link}, {"reason", reason}};
  if (next) {
    details["override"] = wan::to_json(*next);
  }
  if (wan_override_) {
    details["replaces"] = wan::to_json(*wan_override_);
  }
  if (!wan_override_unreadable_.empty()) {
    details["replaces_unreadable"] = wan_override_unreadable_;
  }
  const std::string kind = "link." + action;
  // Keeping the link up widens access: without its record it does not happen. A forced
  // down or a return to the schedule goes ahead and is recorded when the log works again.
  if (action == "down") {
    host_.auditor().record(by, kind, details);
  } else if (!host_.auditor().record_or_refuse(by, kind, details)) {
    throw control::ControlError(control::ErrorCode::AuditUnavailable,
                                "the audit log cannot be written: the link override is not set");
  }
  wan_override_ = next;
  wan_override_unreadable_.clear();  // the operator decided: the unreadable one is replaced
  const bool persisted = save_wan_state();
  log_notice("link " + action + " by " + by.user + ": " + reason);
  check_wan();
  nlohmann::json out = wan_status_json();
  out["persisted"] = persisted;  // false: in force, but a restart would forget it
  return out;
}

std::optional<std::string> WanLink::forced_down_why() const {
  if (!wan_forced_down()) {
    return std::nullopt;
  }
  return decide_wan(enforcement_.current().policy, schedule_now()).why;
}

bool WanLink::wan_forced_down() const {
  return enforcement_.has_current() && enforcement_.current().policy.wan &&
         decide_wan(enforcement_.current().policy, schedule_now()).cause ==
             wan::LinkCause::ForcedDown;
}

nlohmann::json WanLink::wan_status_json() {
  const policy::Policy& policy = enforcement_.current().policy;
  if (!policy.wan) {
    return nullptr;
  }
  const std::string& link = policy.wan->interface.name;
  const wan::LinkDecision decision = decide_wan(policy, schedule_now());
  net::LinkInfo info;
  std::error_code error = net::get_link(route_, link, info);
  nlohmann::json out = {
      {"link", link},
      {"clock", utc_text(schedule_now())},
      {"present", !error},
      {"up", !error && info.up()},
      {"to_be_up", decision.up},
      {"cause", wan::cause_name(decision.cause)},
      {"why", decision.why},
      {"gate", wan_closed_ ? "closed" : "open"},
      // While the kernel refuses the gate's change: what it is to be.
      {"gate_pending", wan_closed_ == wan_close_wanted_ ? nlohmann::json()
                       : wan_close_wanted_              ? nlohmann::json("closed")
                                                        : nlohmann::json("open")},
      {"schedule", policy.wan->up ? nlohmann::json(policy.wan->up->name) : nlohmann::json()},
      {"override", wan_override_ ? wan::to_json(*wan_override_) : nlohmann::json()},
      {"override_unreadable", wan_override_unreadable_.empty()
                                  ? nlohmann::json()
                                  : nlohmann::json(wan_override_unreadable_)},
      {"clock_synchronised", clock_synchronised()},
      {"power_hook",
       policy.wan->power_hook.empty() ? nlohmann::json() : nlohmann::json(policy.wan->power_hook)},
      {"last_hook", last_hook_},
  };
  if (wan_snapshot_) {
    out["recorded"] = {{"addresses", wan_snapshot_->addresses.size()},
                       {"routes", wan_snapshot_->routes.size()}};
  }
  return out;
}

void WanLink::bind_methods(control::MethodTable& table) {
  using Call = control::MethodTable::Call;
  table.bind(control::kLinkStatus, [this](const Call&) { return wan_status_json(); });
  for (const auto& [method, action] :
       {std::pair{&control::kLinkUp, "up"}, std::pair{&control::kLinkDown, "down"},
        std::pair{&control::kLinkAuto, "auto"}}) {
    table.bind(*method, [this, action](const Call& call) {
      return link_request(call.params(), actor_of(call.caller), action);
    });
  }
}

}  // namespace sekisho::daemon
