#include "daemon/sekishod/auditor.hpp"

#include "daemon/common/log.hpp"
#include "daemon/sekishod/clock.hpp"

namespace sekisho::daemon {

void Auditor::open(const std::string& state_dir) {
  path_ = state_dir + "/audit.db";
  const std::string key = state_dir + "/audit-key.pem";
  if (std::error_code error = signer_.load_or_create(key)) {
    log_error("audit key " + key + ": " + error.message() + "; checkpoints are not signed");
  }
  if (std::error_code error = log_.open(path_)) {
    log_error("audit log " + path_ + ": " + error.message() +
              "; requests that widen access are refused until it works");
  }
}

bool Auditor::flush() {
  if (!log_.is_open() && log_.open(path_)) {
    return false;
  }
  while (!pending_.empty()) {
    const Pending& event = pending_.front();
    try {
      if (log_.append(event.time, event.actor, event.kind, event.details)) {
        return false;
      }
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

void Auditor::checkpoint() {
  if (!signer_.ready() || !log_.is_open() || log_.records_since_checkpoint() == 0) {
    return;
  }
  if (std::error_code error = log_.add_checkpoint(
          signer_, utc_text(std::chrono::system_clock::now()), clock_synchronised())) {
    log_error("audit checkpoint: " + error.message());
  }
}

void Auditor::record(const audit::Actor& actor, const std::string& kind,
                     const nlohmann::json& details) {
  // Kept in memory while the log cannot be written, up to a bound: a log that never
  // recovers must not take the daemon's memory with it.
  constexpr std::size_t kMaxPending = 10000;
  if (pending_.size() >= kMaxPending) {
    log_error("audit: " + std::to_string(kMaxPending) + " events wait for the log; dropping " +
              pending_.front().kind + " of " + pending_.front().time);
    pending_.erase(pending_.begin());
  }
  pending_.push_back({utc_text(std::chrono::system_clock::now()), actor, kind, details});
  if (!flush()) {
    log_error("audit log " + path_ + " cannot be written; kept to record later: " + kind + " " +
              details.dump());
  }
}

bool Auditor::writable() {
  return flush();
}

}  // namespace sekisho::daemon
