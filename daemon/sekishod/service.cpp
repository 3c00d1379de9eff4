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

constexpr auto kGenerationPoll = 1s;
// Schedules and the WAN link are judged by the wall clock every second: a transition is
// at most a second late, and a clock step (NTP, suspend) is noticed at the next tick.
constexpr auto kSchedulePoll = 1s;
// A peer someone removed with `wg` is back within this time.
constexpr auto kVpnPoll = 5s;

std::chrono::sys_seconds to_seconds(std::chrono::system_clock::time_point now) {
  return std::chrono::time_point_cast<std::chrono::seconds>(now);
}

std::string milliseconds(std::chrono::microseconds took) {
  return std::to_string(took.count() / 1000) + "." + std::to_string(took.count() / 100 % 10) +
         " ms";
}

}  // namespace

Service::Service(boost::asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      monitor_("sekisho"),
      signals_(io, SIGHUP, SIGTERM, SIGINT),
      generation_timer_(io),
      checkpoint_timer_(io),
      schedule_timer_(io),
      watchdog_timer_(io),
      confirmation_timer_(io),
      vpn_timer_(io),
      session_timer_(io),
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
                           0),
      power_hook_(io),
      local_broker_(options_.broker, options_.state_dir) {}

std::optional<Service::Loaded> Service::load(bool at_start) {
  const auto start = std::chrono::steady_clock::now();
  policy::LoadResult loaded = policy::load_policy_file(options_.policy_path);
  // Already "FILE:LINE:COL: error[CODE]: message" (and its hint): one log line each.
  for (const policy::Diagnostic& diagnostic : loaded.diagnostics.sorted()) {
    log_diagnostic(
        diagnostic.severity == policy::Severity::Error ? LogLevel::Error : LogLevel::Warning,
        policy::format_diagnostic(diagnostic));
  }
  if (!loaded.policy) {
    log_error(options_.policy_path + ": invalid policy" +
              (at_start ? "; nothing applied" : "; the running ruleset stays in force"));
    return std::nullopt;
  }
  Loaded out{std::move(*loaded.policy), {}, std::move(loaded.text)};
  out.ruleset = policy::compile(out.policy);
  log_info(options_.policy_path + ": read, checked and compiled in " +
           milliseconds(std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now() - start)));
  return out;
}

void Service::fill_runtime_sets(Loaded& loaded) {
  policy::fill_open_schedules(loaded.ruleset, loaded.policy, to_seconds(schedule_clock_now()));
  policy::fill_wan_gate(loaded.ruleset, loaded.policy, wan_close_wanted_);
  fill_sessions(loaded.ruleset);
}

bool Service::apply_filled(Loaded& loaded, const char* what) {
  // The runtime sets of current_ as the kernel holds them, to put back if it refuses: the
  // scheduled sets, the WAN gate and the sessions maps (the only sets with timeouts).
  std::vector<std::pair<ir::Set*, std::vector<ir::Element>>> held;
  if (current_ && &loaded == &*current_) {
    for (ir::Set& set : loaded.ruleset.sets) {
      if (!set.schedule.empty() || set.timeout || set.name == policy::kWanClosedSet) {
        held.emplace_back(&set, set.elements);
      }
    }
  }
  fill_runtime_sets(loaded);
  if (!apply(loaded.ruleset, what)) {
    for (auto& [set, elements] : held) {
      set->elements = std::move(elements);
    }
    return false;
  }
  wan_closed_ = loaded.policy.wan && wan_close_wanted_;
  for (auto& [number, closing] : closing_sessions_) {
    closing.elements_gone = true;  // the table applied holds the open sessions only
  }
  return true;
}

bool Service::apply(const ir::Ruleset& ruleset, const char* what) {
  // Whatever others did so far is read first; during our own commit nobody listens (the
  // kernel then builds no events for it), and the commit is conditional on the generation
  // it started from, so a change by someone else after it shows as an unexpected
  // generation at the next check.
  if (events_) {
    EventNews news = read_events();
    if (!news.foreign.empty()) {
      ++restores_;
      log_warning("drift: " + news.foreign + "; the apply that follows replaces it (restore #" +
                  std::to_string(restores_) + ")");
    }
  }
  monitor_.pause();
  nft::ApplyOutcome outcome = nft::apply_ruleset(nft_socket_, ruleset, options_.policy_path);
  if (std::error_code error = monitor_.resume()) {
    log_error("cannot listen to nftables events again: " + error.message() +
              "; relying on the generation check");
  }
  if (!outcome.ok) {
    last_kernel_error_ = outcome.errors.empty() ? "refused" : outcome.errors.front();
    for (const std::string& error : outcome.errors) {
      log_error(error);
    }
    log_error(std::string(what) + " failed: the kernel keeps its previous ruleset");
    // Whatever the kernel holds now (the old ruleset, or someone's half of it), the next
    // generation check reads it back and restores until it matches.
    check_pending_ = true;
    return false;
  }
  known_genid_ = outcome.genid;
  applied_genid_ = outcome.genid;
  applied_at_ = std::chrono::system_clock::now();
  // Building and sending a large batch takes tens of megabytes that are free again now:
  // give them back, so the daemon's resident size is what it keeps, not its peak.
  malloc_trim(0);
  log_info(std::string(what) + ": " + std::to_string(ruleset.rule_count()) + " rules, " +
           std::to_string(ruleset.element_count()) + " set elements in one batch of " +
           std::to_string(outcome.messages) + " messages, committed in " +
           milliseconds(outcome.took) + " (batch " + milliseconds(outcome.build) + ", dry run " +
           milliseconds(outcome.dry_run) + ", commit " + milliseconds(outcome.commit) +
           "; generation " + std::to_string(outcome.genid) + ")");
  return true;
}

bool Service::apply_element_changes(const std::vector<SetChange>& changes, const char* what,
                                    bool quiet_fallback) {
  if (events_) {
    EventNews news = read_events();
    if (!news.foreign.empty()) {
      // A full apply: it carries every runtime set as it is to be now, these changes too.
      return restore(news.foreign);
    }
  }
  std::vector<nft::ElementChange> batch;
  for (const SetChange& change : changes) {
    batch.push_back({change.set, change.remove, change.add});
  }
  monitor_.pause();
  nft::ApplyOutcome outcome = nft::apply_elements(nft_socket_, current_->ruleset, batch, what);
  if (std::error_code error = monitor_.resume()) {
    log_error("cannot listen to nftables events again: " + error.message());
  }
  if (outcome.ok) {
    // Someone committed while we did not listen: only a readback can tell what.
    if (outcome.genid != known_genid_ + 1) {
      check_pending_ = true;
    }
    known_genid_ = outcome.genid;
    applied_genid_ = outcome.genid;
    for (const SetChange& change : changes) {
      change.set->elements = change.after;
    }
    log_info(std::string(what) + ": committed in " + milliseconds(outcome.took) + " (generation " +
             std::to_string(outcome.genid) + ")");
    return true;
  }
  // E.g. a session element that timed out in the meantime cannot be removed (ENOENT):
  // replacing the whole table with the runtime sets as they are to be now works unless the
  // kernel refuses that too.
  if (!quiet_fallback) {
    for (const std::string& error : outcome.errors) {
      log_warning(error);
    }
    log_warning(std::string(what) + ": element change refused; replacing the table instead");
  }
  return apply_filled(*current_, what);
}

void Service::note_retry(const std::string& change, const std::string& what,
                         const std::string& error) {
  if (error.empty()) {
    if (std::optional<Retries::Episode> episode = retries_.took(change)) {
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(Retries::Clock::now() - episode->since)
              .count();
      log_notice(what + ": the kernel took it after " + std::to_string(episode->failures) +
                 " failed attempts in " + std::to_string(seconds) + " s");
      auditor_.record(Auditor::daemon_actor(), "kernel.change_applied",
                      {{"change", change},
                       {"what", what},
                       {"failed_attempts", static_cast<std::int64_t>(episode->failures)},
                       {"failed_seconds", static_cast<std::int64_t>(seconds)}});
    }
    return;
  }
  if (retries_.failed(change, Retries::Clock::now())) {
    log_error(what + ": the kernel did not take it (" + error + "); trying again until it does");
    auditor_.record(Auditor::daemon_actor(), "kernel.change_failed",
                    {{"change", change}, {"what", what}, {"error", error}});
  }
}

bool Service::enforce(Loaded& loaded, const char* what, bool confirmed,
                      std::optional<Loaded>* replaced) {
  // Sessions this policy no longer grants as they were granted end with it: its ruleset
  // leaves them out.
  std::vector<sessions::Session> ending;
  for (std::uint32_t number : sessions_without_grant(loaded.policy)) {
    ending.push_back(open_sessions_.at(number));
    open_sessions_.erase(number);
  }
  if (!apply_filled(loaded, what)) {
    for (sessions::Session& session : ending) {
      open_sessions_.emplace(session.number, std::move(session));
    }
    return false;  // the kernel and current_ keep the previous policy
  }
  std::optional<Loaded> previous = std::exchange(current_, std::move(loaded));
  if (replaced) {
    *replaced = std::move(previous);
  }
  end_sessions_without_grant(ending);
  // The VPN follows the ruleset that governs its zone, never the other way round.
  enforce_vpns(current_->policy);
  enforce_cloud(current_->policy);
  if (confirmed) {
    if (std::error_code error = save_last_good(options_.state_dir, current_->text)) {
      log_warning("cannot save the last-good policy in " + options_.state_dir + ": " +
                  error.message() + " (--restore would load an older one or lock down)");
    }
  }
  return true;
}

// One record for an apply that took or failed: where the policy came from, who sent it,
// and the hashes an auditor can match with the files.
void Service::record_apply(const char* kind, const audit::Actor& by, const std::string& source,
                           const std::string& how, const std::string& old_hash,
                           nlohmann::json details) {
  details["source"] = source;
  details["how"] = how;
  details["old_sha256"] = old_hash.empty() ? nlohmann::json() : nlohmann::json(old_hash);
  details["generation"] = applied_genid_;
  if (!details.contains("new_sha256")) {
    details["new_sha256"] = sha256_hex(current_->text);
  }
  auditor_.record(by, kind, details);
}

int Service::start() {
  std::optional<Loaded> loaded = load(true);
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
  // Listen before the first apply, so its events are seen as ours and nothing is missed.
  int event_buffer = test_hooks::event_buffer().value_or(nft::ChangeMonitor::kReceiveBuffer);
  if (std::error_code error = monitor_.open(event_buffer)) {
    log_error("cannot listen to nftables events: " + error.message());
    return kExitUnavailable;
  }
  for (const auto& [what, error] :
       {std::pair{"nftables", nft_socket_.open()},
        std::pair{"rtnetlink", net::open_route_socket(route_socket_)},
        std::pair{"conntrack", net::open_conntrack_socket(conntrack_socket_)}}) {
    if (error) {
      log_error(std::string("cannot open a netlink socket for ") + what + ": " + error.message());
      return kExitUnavailable;
    }
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
  spare_descriptor_.take();
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
  open_local_broker();   // its files follow the first policy enforced
  open_session_store();  // open sessions go into the first ruleset with their remaining time
  load_wan_state(loaded->policy);  // the first ruleset's WAN gate as things are now
  if (!start_enforcing(std::move(*loaded))) {
    return kExitNegative;
  }
  start_sessions();
  end_closed_schedules_at_start();
  check_wan();  // the link as the decision says, before anything else waits on it
  const int events_fd = ::dup(monitor_.fd());
  if (events_fd < 0) {
    log_error("cannot watch nftables events: " +
              std::error_code(errno, std::generic_category()).message());
    return kExitUnavailable;
  }
  events_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, events_fd);
  if (std::error_code error = start_control()) {
    log_error("cannot serve the control socket " + options_.control_path + ": " + error.message());
    return kExitUnavailable;
  }
  wait_for_signals();
  wait_for_events();
  every(generation_timer_, kGenerationPoll, "generation check", [this] { check_generation(); });
  // Two guards: a failing schedule check must not keep the WAN gate from closing.
  every(schedule_timer_, kSchedulePoll, "schedule and WAN check", [this] {
    guarded("schedule check", [this] { check_schedules(); });
    guarded("WAN check", [this] { check_wan(); });
    guarded("cloud check", [this] { check_cloud(); });
  });
  every(vpn_timer_, kVpnPoll, "vpn check", [this] { check_vpns(); });
  auditor_.retain(confirmed_policy().audit, std::chrono::system_clock::now());
  auditor_.checkpoint();  // the records of the start
  // Every record is signed within the policy's audit.checkpoint_every (a reload may change
  // it): looked at every 10 s. Retention every 10 minutes.
  constexpr auto kCheckpointTick = 10s;
  every(checkpoint_timer_, kCheckpointTick, "audit checkpoint and retention",
        [this, ticks = std::int64_t{0}]() mutable {
          auditor_.set_checkpoint_every(confirmed_policy().audit.checkpoint_every_seconds);
          auditor_.checkpoint_if_due(kCheckpointTick);
          if (++ticks % 60 == 0) {
            auditor_.retain(confirmed_policy().audit, std::chrono::system_clock::now());
          }
        });
  every(confirmation_timer_, 1s, "confirmation deadline and refusal counts", [this] {
    check_confirmation_deadline();
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

void Service::reload() {
  log_notice("SIGHUP: reloading " + options_.policy_path);
  if (pending_) {
    // The file holds the confirmed policy: reading it now would be a rollback in disguise.
    log_error(
        "reload refused: a policy is waiting for confirmation; 'sekishoctl confirm' or "
        "'sekishoctl rollback' first");
    auditor_.record(
        Auditor::daemon_actor(), "policy.refused",
        {{"source", options_.policy_path}, {"reason", "SIGHUP while a confirmation is pending"}});
    return;
  }
  std::optional<Loaded> loaded = load(false);
  if (!loaded) {
    auditor_.record(Auditor::daemon_actor(), "policy.refused",
                    {{"source", options_.policy_path}, {"reason", "invalid policy"}});
    return;
  }
  const std::string old_hash = sha256_hex(current_->text);
  const std::string new_hash = sha256_hex(loaded->text);
  // Its record first: a reload may grant access, and without its record it does not happen.
  if (!auditor_.record_or_refuse(Auditor::daemon_actor(), "policy.apply",
                                 {{"source", options_.policy_path},
                                  {"how", "reload"},
                                  {"old_sha256", old_hash},
                                  {"new_sha256", new_hash}})) {
    log_error("reload refused: the audit log cannot be written; the running ruleset stays");
    return;
  }
  if (!enforce(*loaded, "reloaded", true)) {
    record_apply("policy.apply_failed", Auditor::daemon_actor(), options_.policy_path, "reload",
                 old_hash, {{"new_sha256", new_hash}});
    return;
  }
  notify_status("enforcing " + options_.policy_path);
}

bool Service::restore(const std::string& why) {
  ++restores_;
  log_warning("drift: " + why + "; restoring the compiled ruleset (restore #" +
              std::to_string(restores_) + ")");
  // The clock may have moved a schedule since the last apply: restore what is due now.
  const bool restored = apply_filled(*current_, "restored");
  // Recorded when it takes, and when it first fails: a kernel that keeps refusing is
  // tried every second, but not recorded every second.
  nlohmann::json details = {{"what", why}, {"restore", restores_}, {"restored", restored}};
  if (restored) {
    if (std::optional<Retries::Episode> episode = retries_.took("restore")) {
      details["failed_attempts"] = static_cast<std::int64_t>(episode->failures);
    }
    auditor_.record(Auditor::daemon_actor(), "drift.restore", details);
  } else if (retries_.failed("restore", Retries::Clock::now())) {
    details["error"] = last_kernel_error_;
    auditor_.record(Auditor::daemon_actor(), "drift.restore", details);
  }
  // systemctl status shows the state: a failing restore must not look like enforcement.
  if (restored) {
    notify_status("enforcing " + options_.policy_path + "; restores: " + std::to_string(restores_));
  } else {
    notify_status("RESTORE FAILED (retrying every second): table inet sekisho may not hold " +
                  options_.policy_path);
  }
  return restored;
}

Service::EventNews Service::read_events() {
  EventNews news;
  std::vector<nft::Commit> commits;
  if (std::error_code error = monitor_.read(commits, news.lost)) {
    log_warning("reading nftables events: " + error.message());
  }
  for (const nft::Commit& commit : commits) {
    // A generation skipped is a commit whose events we did not see (while we did not
    // listen, during our own apply, or lost): only a readback can tell what it did.
    if (commit.genid != known_genid_ + 1) {
      news.lost = true;
    }
    known_genid_ = commit.genid;
    // Our own commits raise no events: the monitor is paused while we commit.
    if (!commit.touched_table) {
      continue;
    }
    std::string changes;
    for (const std::string& change : commit.changes) {
      changes += (changes.empty() ? "" : ", ") + change;
    }
    news.foreign = "table inet sekisho changed by process " + std::to_string(commit.pid) + " (" +
                   commit.process + ") in generation " + std::to_string(commit.genid) + ": " +
                   changes;
  }
  return news;
}

void Service::handle_events() {
  EventNews news = read_events();
  if (!news.foreign.empty()) {
    restore(news.foreign);  // once, however many commits it took
  } else if (news.lost) {
    log_warning("nftables events were lost; reading the table back");
    compare_and_restore();
  }
}

void Service::check_generation() {
  // Events already waiting explain most generation changes, and name the process.
  EventNews news = read_events();
  if (!news.foreign.empty()) {
    restore(news.foreign);
    return;
  }
  std::uint32_t genid = 0;
  if (std::error_code error = nft::read_genid(nft_socket_, genid)) {
    log_warning("cannot read the nftables generation: " + error.message());
    return;
  }
  if (genid != known_genid_ || news.lost || check_pending_) {
    // Someone committed and its events were not seen (lost, or while we did not listen).
    compare_and_restore();
  }
}

void Service::compare_and_restore() {
  bool compared = false;
  if (std::optional<std::string> drift = read_back_and_compare(compared)) {
    restore(*drift + " (found by reading the table back)");
  } else if (compared) {
    check_pending_ = false;
  }
  malloc_trim(0);  // the two images of a large table are gone again
}

std::optional<std::string> Service::read_back_and_compare(bool& compared) {
  const ir::Ruleset& applied = current_->ruleset;
  nft::Readback kernel = nft::read_table(nft_socket_, applied.table);
  if (kernel.error) {
    log_warning("cannot read table inet sekisho back: " + kernel.error.message());
    check_pending_ = true;  // the generation is not vouched for: try again next tick
    return std::nullopt;
  }
  known_genid_ = kernel.genid;
  compared = true;
  if (!kernel.image.has_table()) {
    return "table inet sekisho is gone";
  }
  nft::TableImage expected = nft::image_of_batch(nft::build_replace_batch(applied, 1));
  // Session elements time out in the kernel on their own: compared on their own terms.
  if (std::optional<std::string> drift = compare_session_elements(expected, kernel.image)) {
    return "table inet sekisho differs from the open sessions: " + *drift;
  }
  std::vector<std::string> differences = nft::differences(expected, kernel.image, 3);
  if (differences.empty()) {
    return std::nullopt;
  }
  std::string summary;
  for (const std::string& line : differences) {
    summary += (summary.empty() ? "" : "; ") + line;
  }
  return "table inet sekisho differs from the policy: " + summary;
}

// No exception leaves an event-loop handler: it is logged, the kernel is compared with the
// policy at the next tick, and the handler's wait is armed again by its caller.
void Service::guarded(const char* what, const std::function<void()>& work) {
  try {
    work();
  } catch (const std::exception& error) {
    log_error(std::string(what) + " failed: " + error.what() +
              "; the table will be read back and compared");
    check_pending_ = true;
  }
}

void Service::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& error, int signal) {
    if (error) {
      return;
    }
    if (signal == SIGHUP) {
      guarded("reload", [this] { reload(); });
      wait_for_signals();
      return;
    }
    log_notice(std::string("stopping on ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
               "; the ruleset stays in force");
    refusals_.flush(RefusalCounter::Clock::now(), true);
    connection_refusals_.flush(RefusalCounter::Clock::now(), true);
    auditor_.record(Auditor::daemon_actor(), "daemon.stop",
                    {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    auditor_.checkpoint();
    notify_stopping();
    io_.stop();
  });
}

void Service::wait_for_events() {
  events_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& error) {
                        if (error) {
                          return;
                        }
                        guarded("nftables events", [this] { handle_events(); });
                        wait_for_events();
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
