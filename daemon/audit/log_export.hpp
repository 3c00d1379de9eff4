#pragma once
// An export of the audit log as sekishod makes it (docs/audit-format.md, "Exported
// bundles"): the records from a time on, read from one snapshot of the log, written as a
// bundle file piece by piece (two passes: the size and hash first, then the file), sealed
// with the device's key, on the disk (fsynced) and then read back and verified like an
// auditor would. Meant to run off the daemon's event loop, on a connection of its own.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/bundle.hpp"

namespace sekisho::audit {

class Signer;

// Read by the daemon's loop while an export runs.
struct ExportProgress {
  enum Phase : int { kChecking, kWriting, kVerifying };
  std::atomic<int> phase{kChecking};
  std::atomic<std::int64_t> records_done{0};
  std::atomic<std::int64_t> records_total{0};
  std::atomic<bool> cancel{false};  // set by the daemon when it stops
};

struct ExportOutcome {
  std::string error;           // empty: written and verified
  ExportSeal seal;             // anchor, since, last record, signed time, the log's verdict
  std::string log_problem;     // why the log did not verify, when it did not
  std::int64_t first_seq = 0;  // first_seq > seal.last.seq: no records
  std::int64_t records = 0;
  std::uint64_t bytes = 0;
  std::string sha256;  // of the file as it is on the disk
};

// Exports the records of `log` whose time is `since` (UTC text) or later, and up to its
// newest record, to `path` (through PATH.new), sealed with `signer`, and checks the file
// with `public_pem`; the seal carries what AuditLog::verify says of the whole log. Refuses
// when the file system would keep less than `reserve_bytes` free.
ExportOutcome export_log(AuditLog& log, const std::string& since, const std::string& path,
                         const Signer& signer, const std::string& public_pem,
                         ExportProgress& progress, std::uint64_t reserve_bytes);

}  // namespace sekisho::audit
