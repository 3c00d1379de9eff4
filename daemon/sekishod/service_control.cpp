// The daemon's side of the control socket: which methods it answers, and how.

#include <cstdlib>
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

control::RoleGroups role_groups() {
#ifdef SEKISHO_TESTING
  // The lab gives roles to made-up gids, so the tests need no system groups:
  // "admin=4001,operator=4002,viewer=4003".
  if (const char* spec = std::getenv("SEKISHO_TEST_ROLE_GROUPS")) {
    static bool said = false;
    if (!said) {
      said = true;
      log_warning(std::string("test build: roles from $SEKISHO_TEST_ROLE_GROUPS: ") + spec);
    }
    control::RoleGroups groups;
    std::string text = spec;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t end = text.find(',', start);
      end = end == std::string::npos ? text.size() : end;
      const std::string item = text.substr(start, end - start);
      const std::size_t eq = item.find('=');
      if (eq != std::string::npos) {
        const gid_t gid = static_cast<gid_t>(std::stoul(item.substr(eq + 1)));
        const std::string role = item.substr(0, eq);
        (role == "admin"      ? groups.admin
         : role == "operator" ? groups.operator_
                              : groups.viewer) = gid;
      }
      start = end + 1;
    }
    return groups;
  }
#endif
  return control::system_role_groups();
}

audit::Actor actor_of(const control::Caller& caller) {
  return {caller.peer.uid, caller.peer.user, std::string(control::role_name(caller.role))};
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
  role_groups();  // a test build says here, once, where its roles come from
  control_ = std::make_unique<control::ControlServer>(
      io_, options_.control_path,
      [this](const control::Request& request, const control::Caller& caller) {
        return handle_request(request, caller);
      },
      [this](const control::Caller& caller, const std::string& method) {
        if (refusals_.refused(actor_of(caller), method, caller.peer.pid,
                              RefusalCounter::Clock::now())) {
          log_warning("control: refused " + method + " to " + caller.peer.user + " (uid " +
                      std::to_string(caller.peer.uid) + ", pid " + std::to_string(caller.peer.pid) +
                      ", role " + std::string(control::role_name(caller.role)) + ")");
        }
      },
      role_groups);
  return control_->start();
}

nlohmann::json Service::handle_request(const control::Request& request,
                                       const control::Caller& caller) {
  if (request.method == "status") {
    return status_json();
  }
  if (request.method == "verify") {
    return verify_json();
  }
  if (request.method == "audit.show") {
    return audit_show_json(request.params);
  }
  if (request.method == "audit.verify") {
    return audit_verify_json();
  }
  if (request.method == "audit.pubkey") {
    return {{"pem", auditor_.public_pem()}};
  }
  if (request.method == "audit.export") {
    return audit_export_json(request.params, actor_of(caller));
  }
  if (request.method == "vpn.status") {
    return vpn_status_json();
  }
  if (request.method == "session.open") {
    return session_open(request.params, actor_of(caller));
  }
  if (request.method == "session.extend") {
    return session_extend(request.params, actor_of(caller));
  }
  if (request.method == "session.close") {
    return session_close(request.params, actor_of(caller));
  }
  if (request.method == "session.list") {
    return session_list_json(request.params);
  }
  if (request.method == "session.show") {
    return session_show_json(request.params);
  }
  if (request.method == "session.receipt") {
    return session_receipt_json(request.params);
  }
  if (request.method == "schedule.list") {
    return schedule_list_json(request.params);
  }
  if (request.method == "cloud.status") {
    return cloud_status_json();
  }
  if (request.method == "link.status") {
    return wan_status_json();
  }
  for (const char* action : {"up", "down", "auto"}) {
    if (request.method == std::string("link.") + action) {
      return link_request(request.params, actor_of(caller), action);
    }
  }
  if (request.method == "policy.apply") {
    return apply_request(request.params, actor_of(caller));
  }
  if (request.method == "policy.confirm") {
    return confirm_request(actor_of(caller));
  }
  if (request.method == "policy.rollback") {
    return rollback_request(actor_of(caller));
  }
  throw control::ControlError(control::ErrorCode::NotFound,
                              "no handler for '" + request.method + "'");
}

nlohmann::json Service::status_json() {
  return {
      {"policy", options_.policy_path},
      {"policy_sha256", sha256_hex(current_->text)},
      {"generation", applied_genid_},
      {"last_apply", utc_text(applied_at_)},
      {"pending_confirmation", pending_json()},
      {"drift_restores", restores_},
      {"clock_synchronised", clock_synchronised()},
      {"rules", current_->ruleset.rule_count()},
      {"elements", current_->ruleset.element_count()},
      {"audit", audit_status_json()},
      {"sessions_open", open_sessions_.size()},
      {"wan", wan_status_json()},
      {"cloud", cloud_status_json()},
  };
}

nlohmann::json Service::audit_status_json() {
  audit::AuditLog& log = auditor_.log();
  const policy::Audit& rules = current_->policy.audit;
  return {{"bytes", log.size_bytes()},
          {"budget_bytes",
           rules.disk_budget_bytes ? nlohmann::json(*rules.disk_budget_bytes) : nlohmann::json()},
          {"retention_days", rules.retention_seconds / 86400},
          {"first_kept_seq", log.start().seq + 1},
          {"exported_through", log.exported_through()}};
}

nlohmann::json Service::verify_json() {
  const ir::Ruleset& applied = current_->ruleset;
  nft::Readback kernel = nft::read_table(nft_socket_, applied.table);
  if (kernel.error) {
    throw std::runtime_error("cannot read nftables: " + kernel.error.message());
  }
  nlohmann::json out = {{"table", "inet " + applied.table},
                        {"policy", options_.policy_path},
                        {"generation", kernel.genid},
                        {"exists", kernel.image.has_table()}};
  if (!kernel.image.has_table()) {
    out["matches"] = false;
    out["differences"] = nlohmann::json::array();
    return out;
  }
  const nft::TableImage expected = nft::image_of_batch(nft::build_replace_batch(applied, 1));
  std::vector<std::string> differences = nft::differences(expected, kernel.image);
  out["matches"] = differences.empty();
  out["objects"] = expected.lines().size();
  out["differences"] = differences;
  return out;
}

}  // namespace sekisho::daemon
