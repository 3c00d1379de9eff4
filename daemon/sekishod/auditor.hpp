#pragma once
// The daemon's use of the audit log (DESIGN.md, Conventions): every event is recorded;
// when the log cannot be written, the event is logged to stderr and kept, to be recorded
// with its original time once the log works again, and `writable()` tells request
// handlers to refuse what would grant or widen access.

#include <string>
#include <vector>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/signer.hpp"

namespace sekisho::daemon {

class Auditor {
 public:
  // Opens `state_dir`/audit.db and the device key `state_dir`/audit-key.pem (made on
  // first start); a failure is reported and the log retried at every event.
  void open(const std::string& state_dir);

  // Signs the newest record (every 100 records by itself; the daemon also calls it every
  // 10 minutes and at shutdown).
  void checkpoint();
  std::string public_pem() const { return signer_.ready() ? signer_.public_pem() : ""; }

  void record(const audit::Actor& actor, const std::string& kind, const nlohmann::json& details);
  bool writable();

  audit::AuditLog& log() { return log_; }

  static audit::Actor daemon_actor() { return {0, "sekishod", "daemon"}; }

 private:
  struct Pending {
    std::string time;
    audit::Actor actor;
    std::string kind;
    nlohmann::json details;
  };
  bool flush();

  std::string path_;
  audit::AuditLog log_;
  audit::Signer signer_;
  std::vector<Pending> pending_;
};

}  // namespace sekisho::daemon
