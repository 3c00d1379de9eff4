#pragma once
// The audit log: one record per event in sqlite (WAL, synchronous=FULL), each record
// chained to the one before it by SHA-256, so that an edit, a deletion, an insertion or a
// reordering is found by `verify`. The format is in docs/audit-format.md:
//
//   canonical = JSON of {seq, time, actor: {uid, user, role}, kind, details}: keys sorted,
//               no whitespace, integers only
//   hash      = SHA-256(previous hash as 64 hex digits ‖ canonical), as 64 hex digits;
//               the first record's previous hash is 64 zeros
//
// Checkpoints: the newest record's {seq, hash, time, clock_synchronised}, as canonical
// JSON, signed with the device's Ed25519 key. A rewrite of the chain (a record edited and
// every later hash recomputed) or the removal of the newest records no longer matches a
// checkpoint. Export and retention come with the rest of the control issue.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace sekisho::audit {

struct Actor {
  std::int64_t uid = 0;
  std::string user;  // "root", "alice"; "sekishod" for the daemon's own events
  std::string role;  // "admin", ...; "daemon"
};

struct Record {
  std::int64_t seq = 0;
  std::string time;  // UTC, "2026-11-25T22:02:48Z"
  Actor actor;
  std::string kind;  // "daemon.start", "policy.apply", "drift.restore", "control.refused"...
  nlohmann::json details = nlohmann::json::object();
  std::string previous;  // hex
  std::string hash;      // hex
};

inline constexpr const char* kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The text that is hashed, and the hash, for one record.
std::string canonical_json(const Record& record);
std::string record_hash(const std::string& previous, const std::string& canonical);
std::string checkpoint_json(std::int64_t seq, const std::string& hash, const std::string& time,
                            bool clock_synchronised);

struct VerifyResult {
  bool ok = true;
  std::int64_t records = 0;
  std::optional<std::int64_t> first_bad;  // the first sequence number that breaks
  std::string reason;
};

class AuditLog {
 public:
  AuditLog() = default;
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (creating it 0600) the log at `path`.
  std::error_code open(const std::string& path);
  bool is_open() const { return db_ != nullptr; }

  // Appends one record at `time`; fails (and changes nothing) when the log cannot be
  // written: a full disk, a read-only file.
  std::error_code append(const std::string& time, const Actor& actor, const std::string& kind,
                         const nlohmann::json& details, Record* written = nullptr);

  // Records with seq >= since (and of `kind` when not empty), oldest first, at most
  // `limit`.
  std::vector<Record> records(std::int64_t since, const std::string& kind, std::size_t limit);

  // Checks the chain, then every checkpoint against its record and, with a public key
  // (PEM), its signature.
  VerifyResult verify(const std::string& public_pem = "");

  // Signs the newest record, unless it already has a checkpoint.
  std::error_code add_checkpoint(const class Signer& signer, const std::string& time,
                                 bool clock_synchronised);
  // How many records came after the newest checkpoint.
  std::int64_t records_since_checkpoint();

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace sekisho::audit
