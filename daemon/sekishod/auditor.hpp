#pragma once
// The daemon's use of the audit log (docs/architecture.md, Conventions): every event is recorded;
// when the log cannot be written, the event is logged to stderr and kept, to be recorded
// with its original time once the log works again. What would grant or widen access goes
// through `record_or_refuse()`: recorded before it happens, or refused; `writable()` lets
// a request handler say so before it does any other work.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/signer.hpp"
#include "policy/model.hpp"

namespace sekisho::daemon {

class Auditor {
 public:
  // Opens `state_dir`/audit.db and the device key `state_dir`/audit-key.pem (made on
  // first start); a failure is reported and the log retried at every event. A key file
  // that is there but unusable is left alone: nothing is signed, and what grants or widens
  // access is refused, until it is fixed and sekishod restarted.
  void open(const std::string& state_dir);
  // Why nothing is signed ("" when the key works): for `status` and daemon.start.
  const std::string& key_problem() const { return signer_.problem(); }
  // What someone else changed in audit.db under sekishod ("" while nothing): checked now.
  // Nothing more is written or signed then, and what widens access is refused (75).
  const std::string& log_changed() {
    log_.unchanged();
    return log_.changed();
  }

  // The interval within which every record is signed (audit.checkpoint_every of the
  // confirmed policy); each checkpoint signs it, and `audit verify` holds the log to it.
  void set_checkpoint_every(std::int64_t seconds) { checkpoint_every_ = seconds; }
  // Signs the newest record now (every 100 records by itself, and where the daemon wants
  // one: its start, around a session's records, shutdown).
  void checkpoint();
  // Called every `tick`: signs when the oldest unsigned record would otherwise be older
  // than checkpoint_every at the next tick.
  void checkpoint_if_due(std::chrono::seconds tick);
  std::string public_pem() const { return signer_.ready() ? signer_.public_pem() : ""; }

  void record(const audit::Actor& actor, const std::string& kind, const nlohmann::json& details);
  // Whether what grants or widens access may go ahead: the log takes records and the key
  // signs them.
  bool writable();
  // For what grants or widens access: written now, or not at all (false: the caller
  // refuses the request, 75), also when the key cannot sign it. Nothing is kept for later.
  // `seq`: the record's number.
  bool record_or_refuse(const audit::Actor& actor, const std::string& kind,
                        const nlohmann::json& details, std::int64_t* seq = nullptr);

  // Retention (the policy's audit block): removes records older than the retention that
  // a written export covers, after recording `audit.pruned`; warns when the log takes
  // 80% of its disk budget. Called at start and every few minutes.
  void retain(const policy::Audit& rules, std::chrono::system_clock::time_point now);

  audit::AuditLog& log() { return log_; }
  const std::string& path() const { return path_; }
  // The device key, for an export's seal (ready() false when it cannot be used).
  const audit::Signer& signer() const { return signer_; }

  static audit::Actor daemon_actor() { return {0, "sekishod", "daemon"}; }

 private:
  struct Pending {
    std::string time;
    audit::Actor actor;
    std::string kind;
    nlohmann::json details;
  };
  bool flush();
  bool can_sign(const std::string& what);
  void note_unsigned();

  std::string path_;
  audit::AuditLog log_;
  audit::Signer signer_;
  std::vector<Pending> pending_;
  std::string last_error_;    // why the log could not be written last time
  bool over_budget_ = false;  // said once per crossing, not every tick
  std::int64_t checkpoint_every_ = audit::kDefaultCheckpointEverySeconds;
  // Since when the oldest unsigned record waits, on the monotonic clock: a wall clock set
  // back must not keep it unsigned.
  std::optional<std::chrono::steady_clock::time_point> unsigned_since_;
};

}  // namespace sekisho::daemon
