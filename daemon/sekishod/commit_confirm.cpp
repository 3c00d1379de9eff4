// Policy changes over the control socket, and commit-confirm: what saves a remote admin
// who locks himself out.
//
// - policy.apply without a deadline: the new file is staged beside --policy (a full disk
//   shows before anything changes), the kernel takes the ruleset, the file is put in
//   place and the old one kept as previous-policy.yaml; last-good follows.
// - policy.apply with confirm_within: the policy is saved as pending (state dir) and put
//   in force; --policy and last-good keep the confirmed one until policy.confirm. At the
//   deadline, at a restart after it, or after a reboot (--restore loaded last-good), the
//   daemon goes back to the confirmed policy.
#include "daemon/sekishod/commit_confirm.hpp"

#include <chrono>

#include <sys/stat.h>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/control/protocol.hpp"
#include "daemon/sekishod/last_good.hpp"
#include "daemon/sekishod/method_binding.hpp"
#include "daemon/sekishod/milliseconds.hpp"
#include "daemon/sekishod/notify.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/yaml_tree.hpp"

namespace sekisho::daemon {

namespace {

using control::ControlError;
using control::ErrorCode;

// A confirmation window longer than a working day is a mistake, not a safety net.
constexpr std::int64_t kMaxConfirmSeconds = 24 * 3600;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc_of(std::int64_t unix_seconds) {
  return utc_text(std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

std::vector<std::string> formatted(const policy::Diagnostics& diagnostics) {
  std::vector<std::string> lines;
  for (const policy::Diagnostic& diagnostic : diagnostics.sorted()) {
    lines.push_back(policy::format_diagnostic(diagnostic));
  }
  return lines;
}

std::string string_param(const nlohmann::json& params, const char* name) {
  auto found = params.find(name);
  if (found == params.end() || !found->is_string()) {
    throw ControlError(ErrorCode::Invalid, std::string("\"") + name + "\" must be a string");
  }
  return found->get<std::string>();
}

// The details of a policy.rollback record; `applied_by` names who applied what was undone.
// What is not known (empty) is left out.
nlohmann::json rollback_record(const std::string& how, const std::string& reason,
                               const std::string& from_sha256, const std::string& to_sha256,
                               const std::string& source, const std::string& applied_by) {
  nlohmann::json details = {
      {"how", how}, {"reason", reason}, {"to_sha256", to_sha256}, {"source", source}};
  if (!from_sha256.empty()) {
    details["from_sha256"] = from_sha256;
  }
  if (!applied_by.empty()) {
    details["applied_by"] = applied_by;
  }
  return details;
}

// The mode the --policy file has now, so an apply keeps what the admin chose.
mode_t policy_file_mode(const std::string& path) {
  struct stat status {};
  return ::stat(path.c_str(), &status) == 0 ? (status.st_mode & 07777) : 0640;
}

}  // namespace

CommitConfirm::CommitConfirm(Host& host, Enforcer& enforcer)
    : host_(host), enforcer_(enforcer), options_(host.options()) {}

std::optional<Loaded> CommitConfirm::load(bool at_start) {
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

void CommitConfirm::reload() {
  log_notice("SIGHUP: reloading " + options_.policy_path);
  if (pending_) {
    // The file holds the confirmed policy: reading it now would be a rollback in disguise.
    log_error(
        "reload refused: a policy is waiting for confirmation; 'sekishoctl confirm' or "
        "'sekishoctl rollback' first");
    host_.auditor().record(
        Auditor::daemon_actor(), "policy.refused",
        {{"source", options_.policy_path}, {"reason", "SIGHUP while a confirmation is pending"}});
    return;
  }
  std::optional<Loaded> loaded = load(false);
  if (!loaded) {
    host_.auditor().record(Auditor::daemon_actor(), "policy.refused",
                           {{"source", options_.policy_path}, {"reason", "invalid policy"}});
    return;
  }
  const std::string old_hash = sha256_hex(enforcer_.current().text);
  const std::string new_hash = sha256_hex(loaded->text);
  // Its record first: a reload may grant access, and without its record it does not happen.
  if (!host_.auditor().record_or_refuse(Auditor::daemon_actor(), "policy.apply",
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

bool CommitConfirm::start_enforcing(Loaded from_file) {
  std::string problem;
  std::optional<PendingConfirmation> pending = load_pending(options_.state_dir, problem);
  std::string overdue;
  std::string how;
  if (!problem.empty()) {
    overdue = "the pending confirmation is damaged (" + problem + ")";
    how = "restart";
  } else if (pending && (pending->boot_id.empty() || pending->boot_id != current_boot_id())) {
    // An unknown boot id counts as a reboot: rolling back is the safe way.
    overdue = "the machine rebooted after it was applied (--restore loaded last-good at boot)";
    how = "reboot";
  } else if (pending && boottime_now() >= pending->deadline_boottime) {
    overdue = "its deadline " + utc_of(pending->deadline) + " passed while sekishod was down";
    how = "restart";
  }
  // Applying the unconfirmed policy again may grant access: it needs its record first.
  if (pending && overdue.empty() &&
      !host_.auditor().record_or_refuse(Auditor::daemon_actor(), "policy.apply",
                                        {{"source", pending->source},
                                         {"how", "restart (confirmation pending)"},
                                         {"applied_by", pending->by.user},
                                         {"old_sha256", sha256_hex(from_file.text)},
                                         {"new_sha256", pending->sha256},
                                         {"deadline", utc_of(pending->deadline)}})) {
    overdue = "the audit log cannot be written, so it is not applied again";
    how = "restart";
  }
  if (pending && overdue.empty()) {
    policy::LoadResult result = policy::load_policy_text(pending->text, pending->source);
    if (result.policy) {
      Loaded loaded{std::move(*result.policy), {}, std::move(result.text)};
      loaded.ruleset = policy::compile(loaded.policy);
      std::optional<Loaded> replaced;
      enforcer_.set_current(std::move(from_file));  // what a rollback goes back to
      if (enforcer_.enforce(loaded, "applied again (confirmation pending)", false, &replaced)) {
        confirmed_ = std::move(replaced);
        pending->text.clear();  // the policy in force holds it
        pending_ = std::move(pending);
        log_warning("the policy " + pending_->source + " applied by " + pending_->by.user +
                    " still waits for confirmation: it rolls back at " +
                    utc_of(pending_->deadline) + " unless an admin runs 'sekishoctl confirm'");
        return true;
      }
      from_file = enforcer_.take_current();
      overdue = "the kernel refused it at start";
    } else {
      overdue = "it no longer loads";
    }
    how = "restart";
  }
  if (!enforcer_.enforce(from_file, "applied", true)) {
    enforcer_.record_apply("policy.apply_failed", Auditor::daemon_actor(), options_.policy_path,
                           "start", "", {{"new_sha256", sha256_hex(from_file.text)}});
    return false;
  }
  if (!overdue.empty()) {
    log_warning("rolled back to " + options_.policy_path + ": the policy waiting for " +
                "confirmation was not confirmed: " + overdue);
    host_.auditor().record(Auditor::daemon_actor(), "policy.rollback",
                           rollback_record(how, overdue, pending ? pending->sha256 : "",
                                           sha256_hex(enforcer_.current().text),
                                           options_.policy_path, pending ? pending->by.user : ""));
    if (std::error_code error = clear_pending(options_.state_dir)) {
      log_error("cannot remove the pending confirmation from " + options_.state_dir + ": " +
                error.message());
    }
  } else {
    enforcer_.record_apply("policy.apply", Auditor::daemon_actor(), options_.policy_path, "start",
                           "");
  }
  return true;
}

nlohmann::json CommitConfirm::pending_json() const {
  if (!pending_) {
    return nullptr;
  }
  return {{"source", pending_->source},
          {"sha256", pending_->sha256},
          {"deadline", utc_of(pending_->deadline)},
          {"seconds_left", std::max<std::int64_t>(0, pending_->deadline_boottime - boottime_now())},
          {"applied_by", pending_->by.user}};
}

nlohmann::json CommitConfirm::policy_result(const std::string& old_hash,
                                            const std::vector<std::string>& warnings) const {
  return {{"policy", options_.policy_path},
          {"sha256", sha256_hex(enforcer_.current().text)},
          {"old_sha256", old_hash},
          {"generation", enforcer_.applied_generation()},
          {"rules", enforcer_.current().ruleset.rule_count()},
          {"elements", enforcer_.current().ruleset.element_count()},
          {"warnings", warnings},
          {"pending_confirmation", pending_json()}};
}

// The kernel and last-good hold the new policy, the --policy file does not: said to the
// caller, logged and recorded, since a restart would enforce the old file again.
std::string CommitConfirm::file_not_replaced(const std::error_code& error) {
  const std::string what = options_.policy_path + ": warning[io]: cannot replace the file (" +
                           error.message() +
                           "); the new policy is in force and last-good, but a restart or "
                           "SIGHUP would read the old file";
  log_error(what);
  host_.auditor().record(Auditor::daemon_actor(), "policy.file_not_written",
                         {{"path", options_.policy_path}, {"error", error.message()}});
  return what;
}

std::error_code CommitConfirm::replace_policy_file(StagedFile& staged) {
  std::error_code error;
  std::optional<std::string> old =
      read_small_file(options_.policy_path, policy::kMaxPolicyBytes, error);
  if (std::error_code failed = staged.commit()) {
    return failed;
  }
  if (old) {
    if (std::error_code failed =
            write_file_atomically(previous_policy_path(options_.state_dir), *old, 0600)) {
      log_warning("cannot keep the previous policy file in " + options_.state_dir + ": " +
                  failed.message());
    }
  }
  return {};
}

nlohmann::json CommitConfirm::apply_request(const nlohmann::json& params, const audit::Actor& by) {
  const std::string name = string_param(params, "name");
  const std::string text = string_param(params, "text");
  std::optional<std::int64_t> confirm_within;
  if (auto found = params.find("confirm_within"); found != params.end() && !found->is_null()) {
    if (!found->is_number_integer() || *found < 1 || *found > kMaxConfirmSeconds) {
      throw ControlError(ErrorCode::Invalid, "\"confirm_within\" must be 1 to " +
                                                 std::to_string(kMaxConfirmSeconds) +
                                                 " seconds (24h)");
    }
    confirm_within = found->get<std::int64_t>();
  }
  // An apply may grant access: without its record it does not happen
  // (docs/architecture.md, Invariants). The record is written before the kernel changes;
  // this is the answer when it cannot be.
  const auto refused_unaudited = [] {
    return ControlError(ErrorCode::AuditUnavailable,
                        "the audit log cannot be written; nothing applied");
  };
  // Said first, before any other refusal: a log that cannot take the record is what the
  // admin must fix before any apply can go ahead.
  if (!host_.auditor().writable()) {
    throw refused_unaudited();
  }
  if (pending_) {
    throw ControlError(ErrorCode::Conflict,
                       "the policy " + pending_->source + " applied by " + pending_->by.user +
                           " waits for confirmation until " + utc_of(pending_->deadline) +
                           ": 'sekishoctl confirm' or 'sekishoctl rollback' first");
  }
  const std::string new_hash = sha256_hex(text);
  policy::LoadResult result = policy::load_policy_text(text, name);
  const std::vector<std::string> diagnostics = formatted(result.diagnostics);
  if (!result.policy) {
    host_.auditor().record(by, "policy.refused",
                           {{"source", name}, {"sha256", new_hash}, {"reason", "invalid policy"}});
    throw ControlError(ErrorCode::Invalid, name + ": invalid policy; nothing applied",
                       {{"diagnostics", diagnostics}});
  }
  Loaded loaded{std::move(*result.policy), {}, std::move(result.text)};
  loaded.ruleset = policy::compile(loaded.policy);
  const std::string old_hash = sha256_hex(enforcer_.current().text);
  nlohmann::json record = {{"source", name},
                           {"how", confirm_within ? "apply (confirmation pending)" : "apply"},
                           {"old_sha256", old_hash},
                           {"new_sha256", new_hash}};

  if (confirm_within) {
    PendingConfirmation pending{"",
                                name,
                                new_hash,
                                unix_now() + *confirm_within,
                                boottime_now() + *confirm_within,
                                current_boot_id(),
                                by};
    pending.text = text;
    record["confirm_within"] = *confirm_within;
    record["deadline"] = utc_of(pending.deadline);
    if (!host_.auditor().record_or_refuse(by, "policy.apply", record)) {
      throw refused_unaudited();
    }
    if (std::error_code error = save_pending(options_.state_dir, pending)) {
      clear_pending(options_.state_dir);
      enforcer_.record_apply("policy.apply_failed", by, name, "apply", old_hash,
                             {{"new_sha256", new_hash}});
      throw std::runtime_error("cannot save the pending confirmation in " + options_.state_dir +
                               ": " + error.message() + "; nothing applied");
    }
    std::optional<Loaded> replaced;
    if (!enforcer_.enforce(loaded, "applied (confirmation pending)", false, &replaced)) {
      clear_pending(options_.state_dir);
      enforcer_.record_apply("policy.apply_failed", by, name, "apply", old_hash,
                             {{"new_sha256", new_hash}});
      throw std::runtime_error("the kernel refused the ruleset; nothing changed (see the log)");
    }
    confirmed_ = std::move(replaced);
    pending.text.clear();
    pending_ = std::move(pending);
    log_notice(by.user + " applied " + name + "; it rolls back at " + utc_of(pending_->deadline) +
               " unless confirmed");
    return policy_result(old_hash, diagnostics);
  }

  // The new file is staged first: a disk that cannot take it refuses the apply before
  // the kernel changes.
  StagedFile staged;
  if (std::error_code error =
          staged.write(options_.policy_path, text, policy_file_mode(options_.policy_path))) {
    throw std::runtime_error("cannot write " + options_.policy_path + ": " + error.message() +
                             "; nothing applied");
  }
  if (!host_.auditor().record_or_refuse(by, "policy.apply", record)) {
    throw refused_unaudited();
  }
  if (!enforcer_.enforce(loaded, "applied", true)) {
    enforcer_.record_apply("policy.apply_failed", by, name, "apply", old_hash,
                           {{"new_sha256", new_hash}});
    throw std::runtime_error("the kernel refused the ruleset; nothing changed (see the log)");
  }
  std::vector<std::string> warnings = diagnostics;
  if (std::error_code error = replace_policy_file(staged)) {
    warnings.push_back(file_not_replaced(error));
  }
  log_notice(by.user + " applied " + name + " to " + options_.policy_path);
  return policy_result(old_hash, warnings);
}

nlohmann::json CommitConfirm::confirm_request(const audit::Actor& by) {
  if (!pending_) {
    throw ControlError(ErrorCode::Conflict,
                       "nothing to confirm: no policy is waiting for confirmation");
  }
  // Confirming makes access permanent: it needs its record (below, before the file is put
  // in place). Refused, the deadline still rolls back, which is the safe way.
  const std::int64_t seconds_left = pending_->deadline_boottime - boottime_now();
  StagedFile staged;
  std::error_code error = staged.write(options_.policy_path, enforcer_.current().text,
                                       policy_file_mode(options_.policy_path));
  if (!error && !host_.auditor().record_or_refuse(by, "policy.confirm",
                                                  {{"source", pending_->source},
                                                   {"sha256", pending_->sha256},
                                                   {"applied_by", pending_->by.user},
                                                   {"seconds_left", seconds_left}})) {
    throw ControlError(ErrorCode::AuditUnavailable,
                       "the audit log cannot be written; the policy still rolls back at " +
                           utc_of(pending_->deadline));
  }
  if (!error) {
    error = replace_policy_file(staged);
    if (error) {  // the confirmation is recorded: say that it did not take
      host_.auditor().record(by, "policy.confirm_failed",
                             {{"path", options_.policy_path}, {"error", error.message()}});
    }
  }
  if (error) {
    throw std::runtime_error("cannot write " + options_.policy_path + ": " + error.message() +
                             "; still pending, rolls back at " + utc_of(pending_->deadline));
  }
  if (std::error_code failed = save_last_good(options_.state_dir, enforcer_.current().text)) {
    log_warning("cannot save the last-good policy in " + options_.state_dir + ": " +
                failed.message() + " (--restore would load an older one)");
  }
  if (std::error_code failed = clear_pending(options_.state_dir)) {
    log_error("cannot remove the pending confirmation: " + failed.message());
  }
  log_notice(by.user + " confirmed " + pending_->source + "; it is now " + options_.policy_path);
  const std::string old_hash = sha256_hex(confirmed_->text);
  pending_.reset();
  confirmed_.reset();
  return policy_result(old_hash, {});
}

bool CommitConfirm::roll_back(const std::string& how, const audit::Actor& by,
                              const std::string& why) {
  const std::string from_hash = sha256_hex(enforcer_.current().text);
  if (!enforcer_.enforce(*confirmed_, "rolled back", true)) {
    return false;  // still pending: the deadline check tries again
  }
  if (std::error_code error = clear_pending(options_.state_dir)) {
    log_error("cannot remove the pending confirmation from " + options_.state_dir + ": " +
              error.message());
  }
  host_.auditor().record(by, "policy.rollback",
                         rollback_record(how, why, from_hash, sha256_hex(enforcer_.current().text),
                                         options_.policy_path, pending_->by.user));
  log_warning("rolled back to " + options_.policy_path + ": " + why);
  pending_.reset();
  confirmed_.reset();
  notify_status("enforcing " + options_.policy_path);
  return true;
}

nlohmann::json CommitConfirm::rollback_request(const audit::Actor& by) {
  // Rolling back removes what the newer policy granted: it goes ahead when the audit log
  // cannot be written, and is recorded once it can (docs/architecture.md, Invariants).
  if (pending_) {
    const std::string old_hash = sha256_hex(enforcer_.current().text);
    if (!roll_back("manual", by, "rolled back by " + by.user)) {
      throw std::runtime_error("the kernel refused the confirmed ruleset; still pending");
    }
    return policy_result(old_hash, {});
  }
  std::error_code error;
  std::optional<std::string> previous =
      read_small_file(previous_policy_path(options_.state_dir), policy::kMaxPolicyBytes, error);
  if (!previous) {
    throw ControlError(ErrorCode::Conflict,
                       "nothing to roll back to: no confirmation is pending and no previous "
                       "policy file is kept in " +
                           options_.state_dir);
  }
  policy::LoadResult result =
      policy::load_policy_text(*previous, previous_policy_path(options_.state_dir));
  if (!result.policy) {
    throw ControlError(
        ErrorCode::Conflict,
        previous_policy_path(options_.state_dir) + " no longer loads; nothing rolled back",
        {{"diagnostics", formatted(result.diagnostics)}});
  }
  Loaded loaded{std::move(*result.policy), {}, std::move(result.text)};
  loaded.ruleset = policy::compile(loaded.policy);
  const std::string old_hash = sha256_hex(enforcer_.current().text);
  StagedFile staged;
  if (std::error_code failed =
          staged.write(options_.policy_path, *previous, policy_file_mode(options_.policy_path))) {
    throw std::runtime_error("cannot write " + options_.policy_path + ": " + failed.message() +
                             "; nothing rolled back");
  }
  // An older policy may allow more than the one in force: like an apply, it needs its
  // record before the kernel changes (only the rollback of a pending one goes ahead).
  if (!host_.auditor().record_or_refuse(
          by, "policy.rollback",
          rollback_record("manual", "back to the policy file before the last apply", old_hash,
                          sha256_hex(loaded.text), options_.policy_path, ""))) {
    throw ControlError(ErrorCode::AuditUnavailable,
                       "the audit log cannot be written; nothing rolled back");
  }
  if (!enforcer_.enforce(loaded, "rolled back", true)) {
    enforcer_.record_apply("policy.apply_failed", by, options_.policy_path, "rollback", old_hash,
                           {{"new_sha256", sha256_hex(*previous)}});
    throw std::runtime_error("the kernel refused the previous ruleset; nothing changed");
  }
  std::vector<std::string> warnings;
  if (std::error_code failed = replace_policy_file(staged)) {
    warnings.push_back(file_not_replaced(failed));
  }
  log_warning(by.user + " rolled " + options_.policy_path + " back to its previous version");
  return policy_result(old_hash, warnings);
}

void CommitConfirm::tick() {
  if (!pending_ || boottime_now() < pending_->deadline_boottime) {
    return;
  }
  if (!roll_back("timeout", Auditor::daemon_actor(),
                 "not confirmed by " + utc_of(pending_->deadline))) {
    log_error("rollback failed: the kernel refused the confirmed ruleset; retrying every second");
  }
}

void CommitConfirm::bind_methods(control::MethodTable& table) {
  using Call = control::MethodTable::Call;
  table.bind(control::kPolicyApply, [this](const Call& call) {
    return apply_request(call.params(), actor_of(call.caller));
  });
  table.bind(control::kPolicyConfirm,
             [this](const Call& call) { return confirm_request(actor_of(call.caller)); });
  table.bind(control::kPolicyRollback,
             [this](const Call& call) { return rollback_request(actor_of(call.caller)); });
}

}  // namespace sekisho::daemon
