#pragma once
// Policy changes (commit_confirm.cpp): the --policy file at start and at SIGHUP, and over
// the control socket with commit-confirm, which saves a remote admin who locks himself
// out: a policy applied with a confirmation deadline is rolled back to the last confirmed
// one unless confirmed in time, also across a restart of the daemon (pending.hpp).

#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/common/files.hpp"
#include "daemon/sekishod/enforcer.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/pending.hpp"
#include "daemon/sekishod/subsystem.hpp"

namespace sekisho::daemon {

class CommitConfirm final : public Subsystem {
 public:
  CommitConfirm(Host& host, Enforcer& enforcer);

  std::string_view name() const override { return "commit_confirm"; }
  // Rolls back a pending policy whose deadline passed (every second).
  void tick() override;
  void status(nlohmann::json& out) override { out["pending_confirmation"] = pending_json(); }
  void bind_methods(control::MethodTable& table) override;

  // Reads, checks and compiles the --policy file; its diagnostics go to the log.
  std::optional<Loaded> load(bool at_start);
  // At start: a pending confirmation is applied again while its deadline has not passed in
  // this boot; otherwise the confirmed --policy file is enforced, and the rollback recorded.
  bool start_enforcing(Loaded from_file);
  // SIGHUP.
  void reload();
  // The policy that decides about the audit log: a pending one must not (retention).
  const policy::Policy& confirmed_policy() const {
    return confirmed_ ? confirmed_->policy : enforcer_.current().policy;
  }
  nlohmann::json pending_json() const;  // part of status

  // policy.apply, policy.confirm, policy.rollback.
  nlohmann::json apply_request(const nlohmann::json& params, const audit::Actor& by);
  nlohmann::json confirm_request(const audit::Actor& by);
  nlohmann::json rollback_request(const audit::Actor& by);

 private:
  // Back to confirmed_; `how`: "manual", "timeout", "restart", "reboot".
  bool roll_back(const std::string& how, const audit::Actor& by, const std::string& why);
  nlohmann::json policy_result(const std::string& old_hash,
                               const std::vector<std::string>& warnings) const;
  // Puts the staged --policy file in place, keeping its previous content in the state dir.
  std::error_code replace_policy_file(StagedFile& staged);
  std::string file_not_replaced(const std::error_code& error);

  Host& host_;
  Enforcer& enforcer_;
  const Options& options_;
  // While a confirmation is pending: what is then in force, and what a rollback restores.
  std::optional<PendingConfirmation> pending_;
  std::optional<Loaded> confirmed_;
};

}  // namespace sekisho::daemon
