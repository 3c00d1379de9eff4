#include "daemon/sekishod/auditor.hpp"

#include <algorithm>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"

namespace sekisho::daemon {

void Auditor::open(const std::string& state_dir) {
  path_ = state_dir + "/audit.db";
  const std::string key = state_dir + "/audit-key.pem";
  if (signer_.load_or_create(key)) {
    log_error("audit key: " + signer_.problem() +
              "; nothing is signed and requests that widen access are refused (75) until it is "
              "fixed and sekishod restarted");
  }
  if (std::error_code error = log_.open(path_)) {
    log_error("audit log " + path_ + ": " + error.message() +
              "; requests that widen access are refused until it works");
  } else {
    log_.watch();
  }
}

bool Auditor::flush() {
  if (!log_.is_open()) {
    if (std::error_code error = log_.open(path_)) {
      last_error_ = error.message();
      return false;
    }
    log_.watch();
  }
  // A log someone else changed takes nothing more (AuditLog::watch()).
  if (!log_.unchanged()) {
    if (last_error_ != log_.changed()) {
      last_error_ = log_.changed();
      log_error("audit log " + path_ + ": " + last_error_ +
                "; requests that widen access are refused (75)");
    }
    return false;
  }
  while (!pending_.empty()) {
    const Pending& event = pending_.front();
    try {
      if (std::error_code error = log_.append(event.time, event.actor, event.kind, event.details)) {
        last_error_ = error.message();
        return false;
      }
      note_unsigned();
    } catch (const std::exception& error) {
      // A record the log can never take (a bug in its details) must not block the rest.
      log_error("audit: cannot record " + event.kind + ": " + error.what());
    }
    pending_.erase(pending_.begin());
  }
  constexpr std::int64_t kRecordsPerCheckpoint = 100;
  if (log_.records_since_checkpoint() >= kRecordsPerCheckpoint) {
    checkpoint();
  }
  return true;
}

void Auditor::note_unsigned() {
  if (!unsigned_since_) {
    unsigned_since_ = std::chrono::steady_clock::now();
  }
}

void Auditor::checkpoint() {
  if (!signer_.ready() || !log_.is_open() || !log_.changed().empty() ||
      log_.records_since_checkpoint() == 0) {
    return;
  }
  if (std::error_code error =
          log_.add_checkpoint(signer_, utc_text(std::chrono::system_clock::now()),
                              clock_synchronised(), checkpoint_every_)) {
    log_error("audit checkpoint: " + error.message());
    return;
  }
  unsigned_since_.reset();
}

void Auditor::checkpoint_if_due(std::chrono::seconds tick) {
  if (!signer_.ready() || !log_.is_open() || !log_.changed().empty()) {
    return;
  }
  const std::optional<std::string> oldest = log_.first_unsigned_time();
  if (!oldest) {
    unsigned_since_.reset();
    return;
  }
  note_unsigned();  // written by another path (a flush, a record of the daemon's)
  // Due by either clock: the wall clock (what `audit verify` judges) or the monotonic one.
  const std::chrono::seconds every(checkpoint_every_);
  const auto written = parse_utc_text(*oldest);
  const bool due_by_wall = !written || std::chrono::system_clock::now() - *written + tick >= every;
  const bool due_by_steady = std::chrono::steady_clock::now() - *unsigned_since_ + tick >= every;
  if (due_by_wall || due_by_steady) {
    checkpoint();
  }
}

void Auditor::record(const audit::Actor& actor, const std::string& kind,
                     const nlohmann::json& details) {
  // Kept in memory while the log cannot be written, up to a bound: a log that never
  // recovers must not take the daemon's memory with it.
  constexpr std::size_t kMaxPending = 10000;
  if (pending_.size() >= kMaxPending) {
    // Refusals go first: anyone may cause them, and they must not push out a rollback.
    auto dropped = std::find_if(pending_.begin(), pending_.end(), [](const Pending& event) {
      return event.kind == "control.refused";
    });
    if (dropped == pending_.end()) {
      dropped = pending_.begin();
    }
    log_error("audit: " + std::to_string(kMaxPending) + " events wait for the log; dropping " +
              dropped->kind + " of " + dropped->time);
    pending_.erase(dropped);
  }
  pending_.push_back({utc_text(std::chrono::system_clock::now()), actor, kind, details});
  if (!flush()) {
    log_error("audit log " + path_ + " cannot be written (" + last_error_ +
              "); kept to record later: " + kind + " " + details.dump());
  }
}

void Auditor::retain(const policy::Audit& rules, std::chrono::system_clock::time_point now) {
  if (!flush()) {
    return;  // nothing leaves a log that cannot take the record of it
  }
  const std::string cutoff = utc_text(now - std::chrono::seconds(rules.retention_seconds));
  const audit::AuditLog::Start kept = log_.start();
  const std::int64_t through = log_.prunable_through(cutoff);
  if (through > kept.seq) {
    std::optional<std::string> hash = log_.hash_before(through + 1);
    const nlohmann::json details = {{"through", through},
                                    {"hash", hash.value_or("")},
                                    {"records", through - kept.seq},
                                    {"older_than", cutoff},
                                    {"exported_through", log_.exported_through()}};
    if (hash && record_or_refuse(daemon_actor(), "audit.pruned", details)) {
      if (std::error_code error = log_.prune_through(through)) {
        log_error("audit: cannot remove records up to " + std::to_string(through) + ": " +
                  error.message());
      } else {
        log_notice("audit: removed records " + std::to_string(kept.seq + 1) + ".." +
                   std::to_string(through) + " (older than " + cutoff + ", exported)");
      }
    }
  }
  if (!rules.disk_budget_bytes) {
    return;
  }
  const std::uint64_t size = log_.size_bytes();
  const std::uint64_t budget = *rules.disk_budget_bytes;
  const bool over = size * 10 >= budget * 8;
  if (over && !over_budget_) {
    log_warning("audit log " + path_ + " takes " + std::to_string(size) + " of its " +
                std::to_string(budget) + " byte budget: export it ('sekishoctl audit export') so " +
                "that records older than the retention can be removed");
    record(daemon_actor(), "audit.budget",
           {{"bytes", static_cast<std::int64_t>(size)},
            {"budget", static_cast<std::int64_t>(budget)}});
  }
  over_budget_ = over;
}

bool Auditor::can_sign(const std::string& what) {
  if (!signer_.ready()) {
    log_error("audit key: " + signer_.problem() + ": " + what + " refused (nothing is signed)");
    return false;
  }
  return true;
}

bool Auditor::writable() {
  return flush() && can_sign("a request that widens access");
}

bool Auditor::record_or_refuse(const audit::Actor& actor, const std::string& kind,
                               const nlohmann::json& details, std::int64_t* seq) {
  if (!flush() || !can_sign(kind)) {
    return false;
  }
  audit::Record written;
  try {
    if (std::error_code error = log_.append(utc_text(std::chrono::system_clock::now()), actor, kind,
                                            details, &written)) {
      log_error("audit log " + path_ + " cannot be written (" + error.message() + "): " + kind +
                " refused");
      return false;
    }
  } catch (const std::exception& error) {
    log_error("audit: cannot record " + kind + ": " + error.what());
    return false;
  }
  note_unsigned();
  if (seq) {
    *seq = written.seq;
  }
  return true;
}

}  // namespace sekisho::daemon
