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
#include "daemon/net/rtnl.hpp"
#include "daemon/nft/apply.hpp"
#include "daemon/nft/batch.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishod/last_good.hpp"
#include "daemon/sekishod/milliseconds.hpp"
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

}  // namespace

Service::Service(boost::asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      enforcer_(options_, auditor_, *this),
      signals_(io, SIGHUP, SIGTERM, SIGINT),
      generation_timer_(io),
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
                           0) {}

std::optional<Loaded> Service::load(bool at_start) {
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
           milliseconds_text(std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now() - start)));
  return out;
}

void Service::fill(ir::Ruleset& ruleset, const policy::Policy& policy) {
  schedules_.fill(ruleset, policy);
  wan_link_.fill(ruleset, policy);
  sessions_.fill(ruleset, policy);
}

void Service::after_apply(const policy::Policy& policy) {
  wan_link_.after_apply(policy);
  sessions_.after_apply(policy);
}

void Service::before_policy(const policy::Policy& next) {
  sessions_.before_policy(next);
}

void Service::after_policy(const policy::Policy& policy, bool ok) {
  sessions_.after_policy(policy, ok);
  if (!ok) {
    return;
  }
  // The VPN follows the ruleset that governs its zone, never the other way round.
  vpn_.after_policy(policy, true);
  cloud_.after_policy(policy, true);
}

void Service::foreign_change_replaced(const std::string& what) {
  ++restores_;
  log_warning("drift: " + what + "; the apply that follows replaces it (restore #" +
              std::to_string(restores_) + ")");
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
  int event_buffer = nft::ChangeMonitor::kReceiveBuffer;
#ifdef SEKISHO_TESTING
  // The lab makes the kernel drop events (a tiny buffer) to test the readback path.
  if (const char* bytes = std::getenv("SEKISHO_TEST_EVENT_BUFFER")) {
    event_buffer = std::atoi(bytes);
    log_warning("test build: nftables event buffer of " + std::to_string(event_buffer) +
                " bytes ($SEKISHO_TEST_EVENT_BUFFER)");
  }
#endif
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
  cloud_.open(loaded->policy);  // its files follow the first policy enforced
  sessions_.open(
      loaded->policy);  // open sessions go into the first ruleset with their remaining time
  wan_link_.open(loaded->policy);  // the first ruleset's WAN gate as things are now
  if (!start_enforcing(std::move(*loaded))) {
    return kExitNegative;
  }
  sessions_.start();
  schedules_.start();
  wan_link_.start();  // the link as the decision says, before anything else waits on it
  const int events_fd = enforcer_.watch_events();
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
    guarded("schedule check", [this] { schedules_.tick(); });
    guarded("WAN check", [this] { wan_link_.tick(); });
    guarded("cloud check", [this] { cloud_.tick(); });
  });
  vpn_.start();
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
  const std::string old_hash = sha256_hex(enforcer_.current().text);
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
  if (!enforcer_.enforce(*loaded, "reloaded", true)) {
    enforcer_.record_apply("policy.apply_failed", Auditor::daemon_actor(), options_.policy_path,
                           "reload", old_hash, {{"new_sha256", new_hash}});
    return;
  }
  notify_status("enforcing " + options_.policy_path);
}

bool Service::restore(const std::string& why) {
  ++restores_;
  log_warning("drift: " + why + "; restoring the compiled ruleset (restore #" +
              std::to_string(restores_) + ")");
  // The clock may have moved a schedule since the last apply: restore what is due now.
  const bool restored = enforcer_.full_apply("restored");
  // Recorded when it takes, and when it first fails: a kernel that keeps refusing is
  // tried every second, but not recorded every second.
  nlohmann::json details = {{"what", why}, {"restore", restores_}, {"restored", restored}};
  if (restored) {
    if (std::optional<Retries::Episode> episode = restore_retries_.took("restore")) {
      details["failed_attempts"] = static_cast<std::int64_t>(episode->failures);
    }
    auditor_.record(Auditor::daemon_actor(), "drift.restore", details);
  } else if (restore_retries_.failed("restore", Retries::Clock::now())) {
    details["error"] = enforcer_.last_kernel_error();
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

void Service::handle_events() {
  Enforcer::EventNews news = enforcer_.read_events();
  if (!news.foreign.empty()) {
    restore(news.foreign);  // once, however many commits it took
  } else if (news.lost) {
    log_warning("nftables events were lost; reading the table back");
    compare_and_restore();
  }
}

void Service::check_generation() {
  // Events already waiting explain most generation changes, and name the process.
  Enforcer::EventNews news = enforcer_.read_events();
  if (!news.foreign.empty()) {
    restore(news.foreign);
    return;
  }
  bool moved = false;
  if (std::error_code error = enforcer_.generation_moved(moved)) {
    log_warning("cannot read the nftables generation: " + error.message());
    return;
  }
  if (moved || news.lost || enforcer_.check_pending()) {
    // Someone committed and its events were not seen (lost, or while we did not listen).
    compare_and_restore();
  }
}

void Service::compare_and_restore() {
  bool compared = false;
  if (std::optional<std::string> drift = read_back_and_compare(compared)) {
    restore(*drift + " (found by reading the table back)");
  } else if (compared) {
    enforcer_.compared();
  }
  malloc_trim(0);  // the two images of a large table are gone again
}

std::optional<std::string> Service::read_back_and_compare(bool& compared) {
  const ir::Ruleset& applied = enforcer_.current().ruleset;
  nft::Readback kernel = nft::read_table(enforcer_.nft_socket(), applied.table);
  if (kernel.error) {
    log_warning("cannot read table inet sekisho back: " + kernel.error.message());
    enforcer_.check_later();  // the generation is not vouched for: try again next tick
    return std::nullopt;
  }
  enforcer_.read_back_at(kernel.genid);
  compared = true;
  if (!kernel.image.has_table()) {
    return "table inet sekisho is gone";
  }
  nft::TableImage expected = nft::image_of_batch(nft::build_replace_batch(applied, 1));
  // Session elements time out in the kernel on their own: compared on their own terms.
  if (std::optional<std::string> drift = sessions_.compare_owned(expected, kernel.image)) {
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
