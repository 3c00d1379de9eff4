// Benchmark: an audit export as sekishod makes it (daemon/audit/log_export), and `audit
// verify`, on a log of N records signed every 100 (built here, not through the daemon).
//
//   sekisho_audit_export_bench [--records N] [--dir DIR]
//
// Prints the time of verify, of the export (the log checked again, two passes over the
// records, the file written, fsynced, read back and verified) and the process's peak
// resident memory: an export reads and writes piece by piece, so memory stays flat however
// many records there are. Also the time of one page of `audit show --kind` for a rare kind
// (one record in a thousand), the page a viewer's call reads on the daemon's loop. The files
// are in a directory made under DIR (default: the working directory). Fails when verify or
// the export does.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/log_export.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/clock.hpp"

namespace {

using namespace sekisho::audit;
using Clock = std::chrono::steady_clock;

// One record in a thousand: the kind `audit show --kind` looks for.
constexpr const char* kRareKind = "policy.apply";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

long peak_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

// N records, one a second up to now, and a checkpoint every 100: in one transaction, with
// sqlite's own statements (a million appends through AuditLog would fsync a million times).
bool fill(const std::string& path, const Signer& signer, int records) {
  AuditLog log;  // makes the tables
  if (log.open(path)) {
    return false;
  }
  sqlite3* db = nullptr;
  // As a log made before index records_by_kind: the measurement's open makes it.
  sqlite3_stmt* record_insert = nullptr;
  sqlite3_stmt* checkpoint_insert = nullptr;
  bool ok = sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
            sqlite3_exec(db, "DROP INDEX IF EXISTS records_by_kind; BEGIN", nullptr, nullptr,
                         nullptr) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", -1,
                               &record_insert, nullptr) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "INSERT INTO checkpoints VALUES (?, ?, 1, ?, ?, 600)", -1,
                               &checkpoint_insert, nullptr) == SQLITE_OK;
  const auto first = std::chrono::system_clock::now() - std::chrono::seconds(records);
  std::string previous = kGenesis;
  for (int i = 1; ok && i <= records; ++i) {
    Record record;
    record.seq = i;
    record.time = sekisho::utc_text(first + std::chrono::seconds(i));
    record.actor = {1000, "operator-" + std::to_string(i % 7), "operator"};
    record.kind = i % 1000 == 0 ? kRareKind : "control.refused";
    record.details = {{"method", "policy.apply"}, {"pid", 4000 + i % 1000}};
    record.previous = previous;
    record.hash = record_hash(previous, canonical_json(record));
    previous = record.hash;
    const std::string actor = nlohmann::json{
        {"uid", record.actor.uid},
        {"user", record.actor.user},
        {"role",
         record.actor.role}}.dump();
    const std::string details = record.details.dump();
    sqlite3_reset(record_insert);
    sqlite3_bind_int64(record_insert, 1, i);
    sqlite3_bind_text(record_insert, 2, record.time.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(record_insert, 3, actor.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(record_insert, 4, record.kind.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(record_insert, 5, details.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(record_insert, 6, record.previous.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(record_insert, 7, record.hash.c_str(), -1, SQLITE_TRANSIENT);
    ok = sqlite3_step(record_insert) == SQLITE_DONE;
    if (ok && (i % 100 == 0 || i == records)) {
      const std::string signature =
          signer.sign_hex(checkpoint_json(i, record.hash, record.time, true, 600));
      sqlite3_reset(checkpoint_insert);
      sqlite3_bind_int64(checkpoint_insert, 1, i);
      sqlite3_bind_text(checkpoint_insert, 2, record.time.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(checkpoint_insert, 3, record.hash.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(checkpoint_insert, 4, signature.c_str(), -1, SQLITE_TRANSIENT);
      ok = sqlite3_step(checkpoint_insert) == SQLITE_DONE;
    }
  }
  sqlite3_finalize(record_insert);
  sqlite3_finalize(checkpoint_insert);
  ok = ok && sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int records = 200000;
  std::string under = ".";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--records") == 0) {
      records = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--dir") == 0) {
      under = argv[i + 1];
    }
  }
  std::string pattern = under + "/sekisho-audit-bench-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path dir = pattern;
  Signer signer;
  if (signer.load_or_create((dir / "key.pem").string()) ||
      !fill((dir / "audit.db").string(), signer, records)) {
    std::fprintf(stderr, "cannot build the log in %s\n", dir.c_str());
    std::filesystem::remove_all(dir);
    return 1;
  }
  const long built_mib = peak_mib();
  AuditLog log;
  log.open_read_only((dir / "audit.db").string());
  Clock::time_point start = Clock::now();
  const VerifyResult verified = log.verify(signer.public_pem());
  const double verify_seconds = seconds_since(start);
  ExportProgress progress;
  start = Clock::now();
  const ExportOutcome exported =
      export_log(log, "2000-01-01T00:00:00Z", (dir / "export.tar.gz").string(), signer,
                 signer.public_pem(), progress, 0);
  const double export_seconds = seconds_since(start);
  // A page of `audit show --kind` as audit.show reads it, on the daemon's connection.
  AuditLog daemon_log;
  start = Clock::now();
  daemon_log.open((dir / "audit.db").string());
  const double open_seconds = seconds_since(start);
  start = Clock::now();
  const std::size_t kind_page = daemon_log.records(1, kRareKind, 1000).size();
  const double kind_seconds = seconds_since(start);
  std::printf(
      "audit export bench: %d records (%.1f MiB of log)\n"
      "  verify: %s in %.2f s\n"
      "  export: %s in %.2f s (%.0f records/s), %.2f MiB bundle\n"
      "  audit show --kind: %zu records in %.1f ms (the log opened for writing in %.2f s)\n"
      "  peak memory: %ld MiB (%ld MiB after building the log)\n",
      records, std::filesystem::file_size(dir / "audit.db") / 1048576.0,
      verified.ok ? "ok" : verified.reason.c_str(), verify_seconds,
      exported.error.empty() ? "ok" : exported.error.c_str(), export_seconds,
      records / export_seconds, exported.bytes / 1048576.0, kind_page, kind_seconds * 1000,
      open_seconds, peak_mib(), built_mib);
  std::filesystem::remove_all(dir);
  return verified.ok && exported.error.empty() && exported.records == records ? 0 : 1;
}
