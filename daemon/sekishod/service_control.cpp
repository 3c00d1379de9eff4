// The daemon's side of the control socket: its own methods (status, audit.*), each
// subsystem's bound in the one method table, and the server that reads it.

#include <filesystem>
#include <string>

#include <sys/stat.h>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/nft/batch.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishod/method_binding.hpp"
#include "daemon/sekishod/service.hpp"

namespace sekisho::daemon {

std::error_code Service::start_control() {
  if (std::vector<std::string> problems = methods_.check(); !problems.empty()) {
    for (const std::string& problem : problems) {
      log_error(problem);
    }
    return std::make_error_code(std::errc::function_not_supported);
  }
  // /run/sekisho under systemd's RuntimeDirectory; made here when run by hand.
  const std::filesystem::path parent = std::filesystem::path(options_.control_path).parent_path();
  if (!parent.empty()) {
    std::error_code ignored;
    if (std::filesystem::create_directories(parent, ignored)) {
      ::chmod(parent.c_str(), 0755);
    }
  }
  control_ = std::make_unique<control::ControlServer>(
      io_, options_.control_path, methods_,
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

void Service::bind_methods(control::MethodTable& table) {
  using Call = control::MethodTable::Call;
  table.bind(control::kStatus, [this](const Call&) { return status_json(); });
  table.bind(control::kAuditShow,
             [this](const Call& call) { return audit_show_json(call.params()); });
  table.bind(control::kAuditVerify, [this](const Call& call) -> std::optional<nlohmann::json> {
    answer_later(
        audit_job_, "verify", [this] { return audit_verify_work(); }, call.later);
    return std::nullopt;
  });
  table.bind(control::kAuditPubkey, [this](const Call&) {
    return nlohmann::json{{"pem", auditor_.public_pem()}};
  });
  table.bind(control::kAuditExport, [this](const Call& call) {
    return audit_export_json(call.params(), actor_of(call.caller));
  });
  drift_.bind_methods(table);
  vpn_.bind_methods(table);
  sessions_.bind_methods(table);
  schedules_.bind_methods(table);
  cloud_.bind_methods(table);
  wan_link_.bind_methods(table);
  commit_confirm_.bind_methods(table);
  for (auto& plugin : plugins_) {
    plugin->subsystem().bind_methods(table);
  }
}

nlohmann::json Service::status_json() {
  nlohmann::json out = {
      {"policy", options_.policy_path},
      {"policy_sha256", sha256_hex(enforcer_.current().text)},
      {"generation", enforcer_.applied_generation()},
      {"last_apply", utc_text(enforcer_.applied_at())},
      {"clock_synchronised", clock_synchronised()},
      {"rules", enforcer_.current().ruleset.rule_count()},
      {"elements", enforcer_.current().ruleset.element_count()},
      {"audit", audit_status_json()},
  };
  // Each subsystem adds its own keys (pending_confirmation, drift_restores, sessions_open,
  // wan, cloud); the object prints them sorted, whoever added them.
  for (Subsystem* part : std::initializer_list<Subsystem*>{&commit_confirm_, &drift_, &sessions_,
                                                           &wan_link_, &cloud_}) {
    part->status(out);
  }
  // A plugin's keys under its name: it cannot shadow the core's.
  for (auto& plugin : plugins_) {
    out["plugins"][std::string(plugin->plugin())] = plugin->status_json();
  }
  return out;
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
