#include "daemon/sekishod/enforcer.hpp"

#include <cerrno>

#include <malloc.h>
#include <unistd.h>

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/net/conntrack.hpp"
#include "daemon/net/rtnl.hpp"
#include "daemon/nft/apply.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishod/last_good.hpp"
#include "daemon/sekishod/milliseconds.hpp"

namespace sekisho::daemon {

Enforcer::Enforcer(const Options& options, Auditor& auditor, Hooks& hooks)
    : options_(options), auditor_(auditor), hooks_(hooks), monitor_("sekisho") {}

int Enforcer::open(int event_buffer) {
  // Listen before the first apply, so its events are seen as ours and nothing is missed.
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
  return kExitOk;
}

bool Enforcer::apply_filled(Loaded& loaded, const char* what) {
  // The runtime sets of current_ as the kernel holds them, to put back if it refuses: those
  // the daemon fills (the scheduled sets, the WAN gate, the sessions maps). The kernel's own
  // sets (SetFill::Kernel) are created empty by every apply and filled by nobody here.
  std::vector<std::pair<ir::Set*, std::vector<ir::Element>>> held;
  if (current_ && &loaded == &*current_) {
    for (ir::Set& set : loaded.ruleset.sets) {
      if (set.fill == ir::SetFill::Scheduled || set.fill == ir::SetFill::WanGate ||
          set.fill == ir::SetFill::SessionMap) {
        held.emplace_back(&set, set.elements);
      }
    }
  }
  hooks_.fill(loaded.ruleset, loaded.policy);
  if (!apply(loaded.ruleset, what)) {
    for (auto& [set, elements] : held) {
      set->elements = std::move(elements);
    }
    return false;
  }
  hooks_.after_apply(loaded.policy);
  return true;
}

bool Enforcer::apply(const ir::Ruleset& ruleset, const char* what) {
  // Whatever others did so far is read first; during our own commit nobody listens (the
  // kernel then builds no events for it), and the commit is conditional on the generation
  // it started from, so a change by someone else after it shows as an unexpected
  // generation at the next check.
  if (watching_) {
    EventNews news = read_events();
    if (!news.foreign.empty()) {
      hooks_.foreign_change_replaced(news.foreign);
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
           milliseconds_text(outcome.took) + " (batch " + milliseconds_text(outcome.build) +
           ", dry run " + milliseconds_text(outcome.dry_run) + ", commit " +
           milliseconds_text(outcome.commit) + "; generation " + std::to_string(outcome.genid) +
           ")");
  return true;
}

bool Enforcer::change_elements(const std::vector<SetChange>& changes, const char* what,
                               bool quiet_fallback) {
  if (watching_) {
    EventNews news = read_events();
    if (!news.foreign.empty()) {
      // A full apply: it carries every runtime set as it is to be now, these changes too.
      return hooks_.restore(news.foreign);
    }
  }
  std::vector<nft::ElementChange> batch;
  for (const SetChange& change : changes) {
    batch.push_back({&current_->ruleset.at(change.set), change.remove, change.add});
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
      current_->ruleset.at(change.set).elements = change.after;
    }
    log_info(std::string(what) + ": committed in " + milliseconds_text(outcome.took) +
             " (generation " + std::to_string(outcome.genid) + ")");
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

void Enforcer::note_retry(const std::string& change, const std::string& what,
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

bool Enforcer::enforce(Loaded& loaded, const char* what, bool confirmed,
                       std::optional<Loaded>* replaced) {
  hooks_.before_policy(loaded.policy);
  if (!apply_filled(loaded, what)) {
    hooks_.after_policy(loaded.policy, false);
    return false;  // the kernel and current_ keep the previous policy
  }
  std::optional<Loaded> previous = std::exchange(current_, std::move(loaded));
  if (replaced) {
    *replaced = std::move(previous);
  }
  hooks_.after_policy(current_->policy, true);
  if (confirmed) {
    if (std::error_code error = save_last_good(options_.state_dir, current_->text)) {
      log_warning("cannot save the last-good policy in " + options_.state_dir + ": " +
                  error.message() + " (--restore would load an older one or lock down)");
    }
  }
  return true;
}

Loaded Enforcer::take_current() {
  Loaded out = std::move(*current_);
  current_.reset();
  return out;
}

void Enforcer::record_apply(const char* kind, const audit::Actor& by, const std::string& source,
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

void Enforcer::guarded(const char* what, const std::function<void()>& work) {
  try {
    work();
  } catch (const std::exception& error) {
    log_error(std::string(what) + " failed: " + error.what() +
              "; the table will be read back and compared");
    check_pending_ = true;
  }
}

Enforcer::EventNews Enforcer::read_events() {
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

int Enforcer::watch_events() {
  const int fd = ::dup(monitor_.fd());
  watching_ = fd >= 0;
  return fd;
}

std::error_code Enforcer::generation_moved(bool& moved) {
  std::uint32_t genid = 0;
  if (std::error_code error = nft::read_genid(nft_socket_, genid)) {
    return error;
  }
  moved = genid != known_genid_;
  return {};
}

}  // namespace sekisho::daemon
