// The daemon's side of the control socket: which methods it answers, and how.

#include <filesystem>
#include <string>

#include <sys/stat.h>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/nft/batch.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishod/service.hpp"

namespace sekisho::daemon {

namespace {

audit::Actor actor_of(const control::Caller& caller) {
  return {caller.peer.uid, caller.user, std::string(control::role_name(caller.role))};
}

}  // namespace

std::error_code Service::start_control() {
  // /run/sekisho under systemd's RuntimeDirectory; made here when run by hand.
  const std::filesystem::path parent = std::filesystem::path(options_.control_path).parent_path();
  if (!parent.empty()) {
    std::error_code ignored;
    if (std::filesystem::create_directories(parent, ignored)) {
      ::chmod(parent.c_str(), 0755);
    }
  }
  control_ = std::make_unique<control::ControlServer>(
      io_, options_.control_path,
      [this](const control::Request& request, const control::Caller& caller,
             const control::ControlServer::Later& later) {
        return handle_request(request, caller, later);
      },
      [this](const control::Caller& caller, const std::string& method) {
        if (refusals_.refused(actor_of(caller), caller.role != control::Role::None, method,
                              caller.peer.pid, RefusalCounter::Clock::now())) {
          log_warning("control: refused " + method + " to " + caller.user + " (uid " +
                      std::to_string(caller.peer.uid) + ", pid " + std::to_string(caller.peer.pid) +
                      ", role " + std::string(control::role_name(caller.role)) + ")");
        }
      },
      [this](const control::Caller& caller, control::ConnectionCap cap) {
        connection_refusals_.refused(actor_of(caller), caller.role != control::Role::None,
                                     std::string(control::cap_name(cap)), caller.peer.pid,
                                     RefusalCounter::Clock::now());
      });
  return control_->start();
}

std::optional<nlohmann::json> Service::handle_request(const control::Request& request,
                                                      const control::Caller& caller,
                                                      const control::ControlServer::Later& later) {
  if (request.method == "status") {
    return status_json();
  }
  if (request.method == "verify") {
    return drift_.verify_json();
  }
  if (request.method == "audit.show") {
    return audit_show_json(request.params);
  }
  if (request.method == "audit.verify") {
    answer_later(
        audit_job_, "verify", [this] { return audit_verify_work(); }, later);
    return std::nullopt;
  }
  if (request.method == "audit.pubkey") {
    return nlohmann::json{{"pem", auditor_.public_pem()}};
  }
  if (request.method == "audit.export") {
    return audit_export_json(request.params, actor_of(caller));
  }
  if (request.method == "vpn.status") {
    return vpn_.status_json();
  }
  if (request.method == "session.open") {
    return sessions_.session_open(request.params, actor_of(caller));
  }
  if (request.method == "session.extend") {
    return sessions_.session_extend(request.params, actor_of(caller));
  }
  if (request.method == "session.close") {
    return sessions_.session_close(request.params, actor_of(caller));
  }
  if (request.method == "session.list") {
    const bool all = request.params.value("all", false);
    answer_later(
        sessions_.job(), all ? "list all" : "list",
        [this, all] { return sessions_.session_list_work(all); }, later);
    return std::nullopt;
  }
  if (request.method == "session.show") {
    const std::uint32_t number = Sessions::session_number(request.params);
    answer_later(
        sessions_.job(), "show " + std::to_string(number),
        [this, number] { return sessions_.session_show_work(number); }, later);
    return std::nullopt;
  }
  if (request.method == "session.receipt") {
    return sessions_.session_receipt_json(request.params);
  }
  if (request.method == "schedule.list") {
    return schedules_.list_json(request.params);
  }
  if (request.method == "cloud.status") {
    return cloud_.status_json();
  }
  if (request.method == "cloud.password") {
    return cloud_.password_request(request.params, actor_of(caller));
  }
  if (request.method == "link.status") {
    return wan_link_.wan_status_json();
  }
  for (const char* action : {"up", "down", "auto"}) {
    if (request.method == std::string("link.") + action) {
      return wan_link_.link_request(request.params, actor_of(caller), action);
    }
  }
  if (request.method == "policy.apply") {
    return commit_confirm_.apply_request(request.params, actor_of(caller));
  }
  if (request.method == "policy.confirm") {
    return commit_confirm_.confirm_request(actor_of(caller));
  }
  if (request.method == "policy.rollback") {
    return commit_confirm_.rollback_request(actor_of(caller));
  }
  throw control::ControlError(control::ErrorCode::NotFound,
                              "no handler for '" + request.method + "'");
}

void Service::answer_later(BackgroundJob& job, const std::string& key,
                           BackgroundJob::Prepare prepare,
                           const control::ControlServer::Later& later) {
  job.request(key, std::move(prepare),
              [later](const nlohmann::json& result, std::exception_ptr error) {
                if (error) {
                  later.fail(error);
                } else {
                  later.ok(result);
                }
              });
}

nlohmann::json Service::status_json() {
  return {
      {"policy", options_.policy_path},
      {"policy_sha256", sha256_hex(enforcer_.current().text)},
      {"generation", enforcer_.applied_generation()},
      {"last_apply", utc_text(enforcer_.applied_at())},
      {"pending_confirmation", commit_confirm_.pending_json()},
      {"drift_restores", drift_.restores()},
      {"clock_synchronised", clock_synchronised()},
      {"rules", enforcer_.current().ruleset.rule_count()},
      {"elements", enforcer_.current().ruleset.element_count()},
      {"audit", audit_status_json()},
      {"sessions_open", sessions_.open_count()},
      {"wan", wan_link_.wan_status_json()},
      {"cloud", cloud_.status_json()},
  };
}

nlohmann::json Service::audit_status_json() {
  audit::AuditLog& log = auditor_.log();
  const auto exports = exporter_.usage();
  const policy::Audit& rules = enforcer_.current().policy.audit;
  const std::string& changed = auditor_.log_changed();
  return {{"bytes", log.size_bytes()},
          {"budget_bytes",
           rules.disk_budget_bytes ? nlohmann::json(*rules.disk_budget_bytes) : nlohmann::json()},
          {"retention_days", rules.retention_seconds / 86400},
          {"first_kept_seq", log.start().seq + 1},
          {"exported_through", log.exported_through()},
          {"key_problem", auditor_.key_problem().empty() ? nlohmann::json()
                                                         : nlohmann::json(auditor_.key_problem())},
          {"changed", changed.empty() ? nlohmann::json() : nlohmann::json(changed)},
          {"exports",
           {{"directory", exporter_.directory()},
            {"files", exports.first},
            {"bytes", exports.second},
            {"kept_at_most", Exporter::kKept}}}};
}

}  // namespace sekisho::daemon
