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
// Checkpoints: the newest record's {checkpoint_every, seq, hash, time, clock_synchronised},
// as canonical JSON, signed with the device's Ed25519 key. A rewrite of the chain (a record
// edited and every later hash recomputed) or the removal of the newest records no longer
// matches a checkpoint; and since every record must be signed within checkpoint_every +
// 60 s (coverage.hpp), neither does a chain rewritten after its checkpoints were deleted.

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/audit/coverage.hpp"

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
  // Why the stored actor or details could not be read ("" when they could): not JSON, or
  // nested deeper than any record is. Such details are discarded; verify() reports the
  // record as bad, and canonical_json() refuses it.
  std::string unreadable;
};

inline constexpr const char* kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The text that is hashed, and the hash, for one record.
std::string canonical_json(const Record& record);
std::string record_hash(const std::string& previous, const std::string& canonical);
// The signed checkpoint message. `checkpoint_every` (seconds) is the interval within which
// the device signs every record; a checkpoint without it is of the form made before
// (docs/audit-format.md), still checked but not held to the time rule.
std::string checkpoint_json(std::int64_t seq, const std::string& hash, const std::string& time,
                            bool clock_synchronised,
                            std::optional<std::int64_t> checkpoint_every = std::nullopt);

struct VerifyResult {
  bool ok = true;
  std::int64_t records = 0;
  std::optional<std::int64_t> first_bad;  // the first sequence number that breaks
  std::string reason;
  // The newest records, not signed yet (young enough): the first one's seq, and how many.
  std::optional<std::int64_t> unsigned_from;
  std::int64_t unsigned_records = 0;
  // Records signed late for an accepted reason (a restart after a crash, the clock set).
  std::vector<std::string> notes;
  bool stopped = false;  // gave up when asked to stop (VerifyOptions::stop): says nothing
};

struct VerifyOptions {
  // The time unsigned records are judged at; the system clock when not given.
  std::optional<std::int64_t> now;
  // sekishod is not running (decommission): its newest unsigned records wait for the next
  // start, which signs them, and do not fail.
  bool daemon_stopped = false;
  // Asked to stop (sekishod stops during a long verify): gives up at the next record or
  // checkpoint, not ok, with `stopped` set.
  std::stop_token stop{};
};

class AuditLog {
 public:
  AuditLog() = default;
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (creating it 0600) the log at `path`.
  std::error_code open(const std::string& path);
  // Opens the existing log at `path` for reading only, beside the daemon that writes it:
  // a long read (verify, an export) on its own connection, off the daemon's event loop.
  std::error_code open_read_only(const std::string& path);
  bool is_open() const { return db_ != nullptr; }

  // A log's end: its newest record's seq and hash (the start's when it holds none).
  struct Tip {
    std::int64_t seq = 0;
    std::string hash = kGenesis;
    bool operator==(const Tip&) const = default;
  };

  // sekishod's guard against a log changed under it by someone who can write audit.db but
  // has not the key (docs/audit-format.md, "A log changed under sekishod"). From now on
  // this connection remembers the newest record it wrote, the newest checkpoint it signed
  // and where retention left the log's start; append(), add_checkpoint() and prune_through()
  // first check, in their transaction, that the file still holds exactly these (and nothing
  // after them), and fail with std::errc::state_not_recoverable when it does not, then and
  // from then on: nothing is ever appended to or signed on a chain someone else changed.
  // The log as it is when watch() is called is taken as it is (verify judges it). A log
  // that cannot be read then (busy, an I/O error) is taken as it is at the next check that
  // can read it; watch() returns the error.
  //
  // A read that fails is not a change: the write in progress fails with the read's error
  // and changes nothing, and nothing is remembered as changed.
  std::error_code watch();
  // Checks the file against what this connection remembers, as append() would, without
  // writing: false when it changed (then and from then on). True for a log not watched, and
  // when the file cannot be read now (the next write fails with the error).
  bool unchanged();
  // What a watched log found changed, for people; "" while nothing was.
  const std::string& changed() const { return changed_; }

  // Appends one record at `time`; fails (and changes nothing) when the log cannot be
  // written: a full disk, a read-only file.
  std::error_code append(const std::string& time, const Actor& actor, const std::string& kind,
                         const nlohmann::json& details, Record* written = nullptr);

  // One view of the log for a series of reads (an export's passes), while the daemon goes
  // on writing: until end_snapshot(), reads on this connection see the log as it was.
  std::error_code begin_snapshot();
  void end_snapshot();
  // The newest record's seq (start().seq when the log is empty).
  std::int64_t last_seq();

  // Records with seq >= since (and of `kind` when not empty), oldest first, at most
  // `limit`.
  std::vector<Record> records(std::int64_t since, const std::string& kind, std::size_t limit);

  // Checks the chain, then every checkpoint against its record and, with a public key
  // (PEM), its signature and the time rule (coverage.hpp): every record signed within
  // checkpoint_every + 60 s. Without a key, only the chain and the checkpoints' hashes.
  VerifyResult verify(const std::string& public_pem = "", const VerifyOptions& options = {});

  // Signs the newest record, unless it already has a checkpoint; `checkpoint_every`: the
  // interval the signer keeps (audit.checkpoint_every), signed with it. A checkpoint row
  // that is in the way (someone else's) is an error, never a silent no-op.
  std::error_code add_checkpoint(const class Signer& signer, const std::string& time,
                                 bool clock_synchronised,
                                 std::int64_t checkpoint_every = kDefaultCheckpointEverySeconds);
  // How many records came after the newest checkpoint, and the time of the first of them.
  std::int64_t records_since_checkpoint();
  std::optional<std::string> first_unsigned_time();

  // What an export needs: the newest signed checkpoint, where a time range starts, and
  // the hash a range continues from.
  struct StoredCheckpoint {
    std::int64_t seq = 0;
    std::string hash;
    std::string time;
    bool clock_synchronised = false;
    std::string signature;                         // hex
    std::optional<std::int64_t> checkpoint_every;  // nullopt: the old form
  };
  std::optional<StoredCheckpoint> newest_checkpoint();
  // The oldest checkpoint of record `seq` or a later one: the one that covers record `seq`
  // first (a session receipt's); nullopt when none has been signed since.
  std::optional<StoredCheckpoint> first_checkpoint_from(std::int64_t seq);
  // The newest checkpoint of a record before `seq`: where a receipt's segment for record
  // `seq` starts from a signed hash; nullopt when there is none.
  std::optional<StoredCheckpoint> last_checkpoint_before(std::int64_t seq);
  // The first record whose time is `time` (UTC text) or later; nullopt when there is none.
  std::optional<std::int64_t> first_seq_since(const std::string& time);
  // The hash of record `seq` - 1 (64 zeros for the first record); nullopt when it is gone.
  std::optional<std::string> hash_before(std::int64_t seq);

  // Retention. Records leave the log only from its start, only when a written export
  // covers them, and only after an `audit.pruned` record naming the last one removed and
  // its hash: the first kept record continues that hash, and verify() insists that a
  // record attests it, so a deletion of old records without one is still found.
  struct Start {
    std::int64_t seq = 0;         // the last record removed; 0 when none was
    std::string hash = kGenesis;  // its hash: the first kept record's `previous`
  };
  Start start();
  std::int64_t exported_through();
  std::error_code set_exported_through(std::int64_t seq);  // never goes back
  // The last record that may go: older than `cutoff_time`, as are all before it, covered
  // by an export, and signed by a checkpoint of its own (which stays, so that the start of
  // what is left is signed); start().seq when none may.
  std::int64_t prunable_through(const std::string& cutoff_time);
  // Removes records up to `seq` and the checkpoints before it; the caller recorded
  // `audit.pruned`.
  std::error_code prune_through(std::int64_t seq);
  // Bytes on disk: the database and its write-ahead log.
  std::uint64_t size_bytes();

 private:
  // The readers return sqlite's error apart from the value, so that a read that failed is
  // never taken for what the file holds.
  std::error_code read_meta(const char* key, std::optional<std::string>& value);
  std::optional<std::string> meta(const char* key);  // nullopt also when it cannot be read
  std::error_code read_start(Start& start);
  // The newest record (the start when there is none), and the newest checkpoint's record.
  std::error_code read_tip(Tip& tip);
  std::error_code read_newest_checkpoint(std::optional<Tip>& tip);
  // For append(), add_checkpoint(), prune_through(), inside their transaction: {} when a
  // watched log still holds what this connection remembers; state_not_recoverable, saying
  // what changed, when it does not; the read's error when the file cannot be read.
  std::error_code check_what_was_written();
  // check_what_was_written() in a read transaction of its own.
  std::error_code check_now();
  void found_changed(const std::string& what);
  std::vector<CoverageCheckpoint> coverage_checkpoints();
  std::error_code set_meta(const char* key, const std::string& value);

  // "checkpoint_every", or "NULL" in a log of the old form opened read-only.
  const char* every_column() const { return has_every_column_ ? "checkpoint_every" : "NULL"; }

  sqlite3* db_ = nullptr;
  std::string path_;
  bool has_every_column_ = true;
  // The guard (watch()).
  bool watching_ = false;
  bool remembered_ = false;    // written_, signed_ and start_ were read (see watch())
  Tip written_;                // the newest record, as this connection wrote or found it
  std::optional<Tip> signed_;  // the newest checkpoint's record, likewise
  Tip start_;                  // where retention left the start (seq 0: nothing removed)
  std::string changed_;
};

}  // namespace sekisho::audit
