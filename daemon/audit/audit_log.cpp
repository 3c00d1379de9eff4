#include "daemon/audit/audit_log.hpp"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include <sqlite3.h>
#include <sys/stat.h>

#include "daemon/audit/signer.hpp"
#include "daemon/audit/sqlite_db.hpp"
#include "daemon/common/clock.hpp"
#include "daemon/common/json_depth.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

// Only integers, strings, booleans, null, arrays and objects: a float's text differs
// between implementations, so the canonical form refuses them.
void check_integers_only(const nlohmann::json& value) {
  if (value.is_number_float()) {
    throw std::invalid_argument(
        "audit details may hold integers only, not " +
        value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  if (value.is_structured()) {
    for (const auto& item : value) {
      check_integers_only(item);
    }
  }
}

Record record_of(sqlite3_stmt* statement) {
  Record record;
  record.seq = sqlite3_column_int64(statement, 0);
  record.time = text_column(statement, 1);
  // Read from a file anyone with write access to it may have edited: bounded before parsing.
  auto read_json = [&record](const std::string& text, const std::string& what, bool plural) {
    bool too_deep = false;
    std::optional<nlohmann::json> value =
        parse_json_nesting_at_most(text, kMaxAuditNesting, &too_deep);
    if (!value && record.unreadable.empty()) {
      record.unreadable =
          what + (too_deep ? (plural ? " nest" : " nests") + std::string(" deeper than ") +
                                 std::to_string(kMaxAuditNesting) + " levels"
                           : (plural ? " are" : " is") + std::string(" not JSON"));
    }
    return value ? std::move(*value) : nlohmann::json(nlohmann::json::value_t::discarded);
  };
  const nlohmann::json actor = read_json(text_column(statement, 2), "its actor", false);
  const auto has = [&actor](const char* key, bool (nlohmann::json::*is)() const noexcept) {
    return actor.is_object() && actor.contains(key) && (actor.at(key).*is)();
  };
  if (has("uid", &nlohmann::json::is_number_integer) && has("user", &nlohmann::json::is_string) &&
      has("role", &nlohmann::json::is_string)) {
    record.actor = {actor.at("uid").get<std::int64_t>(), actor.at("user").get<std::string>(),
                    actor.at("role").get<std::string>()};
  } else if (record.unreadable.empty()) {
    record.unreadable = "its actor is not {uid, user, role}";
  }
  record.kind = text_column(statement, 3);
  record.details = read_json(text_column(statement, 4), "its details", true);
  record.previous = text_column(statement, 5);
  record.hash = text_column(statement, 6);
  return record;
}

// The first checkpoint `sql` selects (seq, hash, time, clock_synchronised, signature,
// checkpoint_every), with `seq` bound to its parameter when given.
std::optional<AuditLog::StoredCheckpoint> first_checkpoint(sqlite3* db, const std::string& sql,
                                                           std::optional<std::int64_t> seq) {
  Statement query(db, sql.c_str());
  if (!query) {
    return std::nullopt;
  }
  if (seq) {
    sqlite3_bind_int64(query.get(), 1, *seq);
  }
  if (sqlite3_step(query.get()) != SQLITE_ROW) {
    return std::nullopt;
  }
  return AuditLog::StoredCheckpoint{
      sqlite3_column_int64(query.get(), 0),
      text_column(query.get(), 1),
      text_column(query.get(), 2),
      sqlite3_column_int(query.get(), 3) != 0,
      text_column(query.get(), 4),
      sqlite3_column_type(query.get(), 5) == SQLITE_NULL
          ? std::nullopt
          : std::optional<std::int64_t>(sqlite3_column_int64(query.get(), 5))};
}

// Steps `query` once: SQLITE_ROW, SQLITE_DONE (no row), or the error that kept it from
// being read (also when it could not be prepared).
int step_once(sqlite3* db, const Statement& query) {
  if (!query) {
    const int code = sqlite3_errcode(db);
    return code == SQLITE_OK || code == SQLITE_ROW || code == SQLITE_DONE ? SQLITE_ERROR : code;
  }
  return sqlite3_step(query.get());
}

// Seconds since the epoch of a record's or checkpoint's time text.
std::optional<std::int64_t> epoch_seconds(const std::string& text) {
  if (auto time = parse_utc_text(text)) {
    return time->time_since_epoch().count();
  }
  return std::nullopt;
}

}  // namespace

std::string canonical_json(const Record& record) {
  if (!record.unreadable.empty() || record.details.is_discarded()) {
    throw std::invalid_argument(record.unreadable.empty() ? "its details are not JSON"
                                                          : record.unreadable);
  }
  check_integers_only(record.details);
  // nlohmann's objects are ordered maps: dump() sorts keys and adds no whitespace.
  nlohmann::json body = {
      {"seq", record.seq},
      {"time", record.time},
      {"actor",
       {{"uid", record.actor.uid}, {"user", record.actor.user}, {"role", record.actor.role}}},
      {"kind", record.kind},
      {"details", record.details},
  };
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string record_hash(const std::string& previous, const std::string& canonical) {
  return sha256_hex(previous + canonical);
}

std::string checkpoint_json(std::int64_t seq, const std::string& hash, const std::string& time,
                            bool clock_synchronised, std::optional<std::int64_t> checkpoint_every) {
  nlohmann::json message = {
      {"seq", seq}, {"hash", hash}, {"time", time}, {"clock_synchronised", clock_synchronised}};
  if (checkpoint_every) {
    message["checkpoint_every"] = *checkpoint_every;
  }
  return message.dump();
}

AuditLog::~AuditLog() {
  sqlite3_close(db_);
}

std::error_code AuditLog::open(const std::string& path) {
  const char* schema =
      "CREATE TABLE IF NOT EXISTS records ("
      "  seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,"
      "  details TEXT NOT NULL, previous TEXT NOT NULL, hash TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS checkpoints ("
      "  seq INTEGER PRIMARY KEY, time TEXT NOT NULL, clock_synchronised INTEGER NOT NULL,"
      "  hash TEXT NOT NULL, signature TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";
  if (std::error_code error = open_database(path, schema, db_)) {
    return error;
  }
  path_ = path;
  // Checkpoints sign their interval since issue 20; rows from before keep NULL there.
  if (!Statement(db_, "SELECT checkpoint_every FROM checkpoints LIMIT 0")) {
    if (int result =
            sqlite3_exec(db_, "ALTER TABLE checkpoints ADD COLUMN checkpoint_every INTEGER",
                         nullptr, nullptr, nullptr);
        result != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
      return sqlite_error(result);
    }
  }
  has_every_column_ = true;
  // audit.show --kind: a page of one kind without reading the whole table. Made when a log
  // from before it is opened for writing (a million records: about a second). Only a help:
  // when it cannot be made (a full disk), the log still opens and takes records, read by a
  // scan, and the next open tries again; a failed open would be retried at every record.
  if (int result =
          sqlite3_exec(db_, "CREATE INDEX IF NOT EXISTS records_by_kind ON records (kind, seq)",
                       nullptr, nullptr, nullptr);
      result != SQLITE_OK) {
    log_warning("audit log " + path + ": cannot make index records_by_kind (" +
                sqlite3_errmsg(db_) + "); a page of one kind reads the whole log until it is made");
  }
  return {};
}

std::error_code AuditLog::open_read_only(const std::string& path) {
  if (std::error_code error = open_database_read_only(path, db_)) {
    return error;
  }
  path_ = path;
  has_every_column_ =
      static_cast<bool>(Statement(db_, "SELECT checkpoint_every FROM checkpoints LIMIT 0"));
  return {};
}

std::error_code AuditLog::append(const std::string& time, const Actor& actor,
                                 const std::string& kind, const nlohmann::json& details,
                                 Record* written) {
  if (!db_) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  check_integers_only(details);  // throws before anything is begun
  // Invalid UTF-8 (a user name, a file name) is stored as U+FFFD, as canonical_json hashes
  // it; dumped before the transaction begins, so nothing can leave one open.
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  const std::string actor_json =
      nlohmann::json{{"uid", actor.uid}, {"user", actor.user}, {"role", actor.role}}.dump(
          -1, ' ', false, kReplace);
  const std::string details_json = details.dump(-1, ' ', false, kReplace);
  // One transaction: reading the last record and writing the next cannot interleave.
  if (int result = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      result != SQLITE_OK) {
    return sqlite_error(result);
  }
  Tip last;  // an empty log after pruning continues its start's hash
  std::error_code error = check_what_was_written();
  if (!error) {
    error = read_tip(last);
  }
  if (error) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return error;
  }
  Record record;
  record.time = time;
  record.actor = actor;
  record.kind = kind;
  record.details = details;
  record.seq = last.seq + 1;
  record.previous = last.hash;
  record.hash = record_hash(record.previous, canonical_json(record));
  int result = SQLITE_ERROR;
  {
    Statement insert(db_,
                     "INSERT INTO records (seq, time, actor, kind, details, previous, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (insert) {
      sqlite3_bind_int64(insert.get(), 1, record.seq);
      sqlite3_bind_text(insert.get(), 2, record.time.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert.get(), 3, actor_json.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert.get(), 4, record.kind.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert.get(), 5, details_json.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert.get(), 6, record.previous.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert.get(), 7, record.hash.c_str(), -1, SQLITE_TRANSIENT);
      result = sqlite3_step(insert.get());
    }
  }
  if (result != SQLITE_DONE) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return sqlite_error(result == SQLITE_ERROR ? sqlite3_errcode(db_) : result);
  }
  if (int commit = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); commit != SQLITE_OK) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return sqlite_error(commit);
  }
  written_ = {record.seq, record.hash};
  if (written) {
    *written = std::move(record);
  }
  return {};
}

std::error_code AuditLog::begin_snapshot() {
  // BEGIN is deferred: the snapshot is taken by the first read.
  int result = sqlite3_exec(db_, "BEGIN; SELECT COUNT(*) FROM meta;", nullptr, nullptr, nullptr);
  return result == SQLITE_OK ? std::error_code() : sqlite_error(result);
}

void AuditLog::end_snapshot() {
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
}

std::int64_t AuditLog::last_seq() {
  Statement query(db_, "SELECT MAX(seq) FROM records");
  if (query && sqlite3_step(query.get()) == SQLITE_ROW &&
      sqlite3_column_type(query.get(), 0) != SQLITE_NULL) {
    return sqlite3_column_int64(query.get(), 0);
  }
  return start().seq;
}

std::vector<Record> AuditLog::records(std::int64_t since, const std::string& kind,
                                      std::size_t limit) {
  std::vector<Record> out;
  // Two statements, so that one of a kind is answered from index records_by_kind.
  Statement query(db_, kind.empty()
                           ? "SELECT seq, time, actor, kind, details, previous, hash FROM records "
                             "WHERE seq >= ?1 ORDER BY seq LIMIT ?2"
                           : "SELECT seq, time, actor, kind, details, previous, hash FROM records "
                             "WHERE kind = ?3 AND seq >= ?1 ORDER BY seq LIMIT ?2");
  if (!query) {
    return out;
  }
  sqlite3_bind_int64(query.get(), 1, since);
  sqlite3_bind_int64(query.get(), 2, static_cast<sqlite3_int64>(limit));
  if (!kind.empty()) {
    sqlite3_bind_text(query.get(), 3, kind.c_str(), -1, SQLITE_TRANSIENT);
  }
  while (sqlite3_step(query.get()) == SQLITE_ROW) {
    out.push_back(record_of(query.get()));
  }
  return out;
}

std::error_code AuditLog::add_checkpoint(const Signer& signer, const std::string& time,
                                         bool clock_synchronised, std::int64_t checkpoint_every) {
  // One transaction: what is signed is what the guard found, and nobody writes in between.
  if (int result = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      result != SQLITE_OK) {
    return sqlite_error(result);
  }
  auto end = [this](std::error_code error) {
    if (error || sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      const std::error_code out = error ? error : sqlite_error(sqlite3_errcode(db_));
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return out;
    }
    return std::error_code();
  };
  if (std::error_code error = check_what_was_written()) {
    return end(error);
  }
  Tip newest;
  {
    Statement last(db_, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1");
    if (const int result = step_once(db_, last); result != SQLITE_ROW) {
      return end(result == SQLITE_DONE ? std::error_code() : sqlite_error(result));  // none yet
    }
    newest = {sqlite3_column_int64(last.get(), 0), text_column(last.get(), 1)};
  }
  std::optional<Tip> signed_one;
  if (std::error_code error = read_newest_checkpoint(signed_one)) {
    return end(error);
  }
  if (signed_one && *signed_one == newest) {
    return end({});  // signed already
  }
  const std::string signature = signer.sign_hex(
      checkpoint_json(newest.seq, newest.hash, time, clock_synchronised, checkpoint_every));
  if (signature.empty()) {
    return end(sqlite_error(SQLITE_ERROR));
  }
  // A plain INSERT: a row someone put at this seq is an error, not a reason to skip.
  int result = SQLITE_ERROR;
  {
    Statement insert(db_,
                     "INSERT INTO checkpoints (seq, time, clock_synchronised, hash, signature, "
                     "checkpoint_every) VALUES (?, ?, ?, ?, ?, ?)");
    if (insert) {
      sqlite3_bind_int64(insert.get(), 1, newest.seq);
      sqlite3_bind_text(insert.get(), 2, time.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(insert.get(), 3, clock_synchronised ? 1 : 0);
      sqlite3_bind_text(insert.get(), 4, newest.hash.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert.get(), 5, signature.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert.get(), 6, checkpoint_every);
      result = sqlite3_step(insert.get());
    }
  }
  if (result != SQLITE_DONE) {
    return end(sqlite_error(result == SQLITE_ERROR ? sqlite3_errcode(db_) : result));
  }
  if (std::error_code error = end({})) {
    return error;
  }
  signed_ = newest;
  return {};
}

std::int64_t AuditLog::records_since_checkpoint() {
  if (watching_ && remembered_) {  // a checkpoint row someone else added does not count
    return written_.seq - (signed_ ? signed_->seq : start_.seq);
  }
  Statement query(db_,
                  "SELECT (SELECT IFNULL(MAX(seq), 0) FROM records) - "
                  "(SELECT IFNULL(MAX(seq), 0) FROM checkpoints)");
  if (!query || sqlite3_step(query.get()) != SQLITE_ROW) {
    return 0;
  }
  return sqlite3_column_int64(query.get(), 0);
}

std::optional<std::string> AuditLog::first_unsigned_time() {
  Statement query(db_,
                  "SELECT time FROM records WHERE seq > (SELECT IFNULL(MAX(seq), 0) FROM "
                  "checkpoints) ORDER BY seq LIMIT 1");
  if (!query || sqlite3_step(query.get()) != SQLITE_ROW) {
    return std::nullopt;
  }
  return text_column(query.get(), 0);
}

std::optional<AuditLog::StoredCheckpoint> AuditLog::newest_checkpoint() {
  return first_checkpoint(db_,
                          std::string("SELECT seq, hash, time, clock_synchronised, signature, ") +
                              every_column() + " FROM checkpoints ORDER BY seq DESC LIMIT 1",
                          std::nullopt);
}

std::optional<AuditLog::StoredCheckpoint> AuditLog::first_checkpoint_from(std::int64_t seq) {
  return first_checkpoint(db_,
                          std::string("SELECT seq, hash, time, clock_synchronised, signature, ") +
                              every_column() +
                              " FROM checkpoints WHERE seq >= ? ORDER BY seq LIMIT 1",
                          seq);
}

std::optional<AuditLog::StoredCheckpoint> AuditLog::last_checkpoint_before(std::int64_t seq) {
  return first_checkpoint(db_,
                          std::string("SELECT seq, hash, time, clock_synchronised, signature, ") +
                              every_column() +
                              " FROM checkpoints WHERE seq < ? ORDER BY seq DESC LIMIT 1",
                          seq);
}

std::optional<std::int64_t> AuditLog::first_seq_since(const std::string& time) {
  // Times are fixed-width UTC text, so they compare as strings.
  Statement query(db_, "SELECT MIN(seq) FROM records WHERE time >= ?");
  if (!query) {
    return std::nullopt;
  }
  sqlite3_bind_text(query.get(), 1, time.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(query.get()) != SQLITE_ROW ||
      sqlite3_column_type(query.get(), 0) == SQLITE_NULL) {
    return std::nullopt;
  }
  return sqlite3_column_int64(query.get(), 0);
}

std::optional<std::string> AuditLog::hash_before(std::int64_t seq) {
  if (seq <= 1) {
    return kGenesis;
  }
  if (const Start first = start(); seq - 1 == first.seq) {
    return first.hash;
  }
  Statement query(db_, "SELECT hash FROM records WHERE seq = ?");
  if (!query) {
    return std::nullopt;
  }
  sqlite3_bind_int64(query.get(), 1, seq - 1);
  if (sqlite3_step(query.get()) != SQLITE_ROW) {
    return std::nullopt;
  }
  return text_column(query.get(), 0);
}

std::error_code AuditLog::read_meta(const char* key, std::optional<std::string>& value) {
  value.reset();
  Statement query(db_, "SELECT value FROM meta WHERE key = ?");
  if (query) {
    sqlite3_bind_text(query.get(), 1, key, -1, SQLITE_STATIC);
  }
  const int result = step_once(db_, query);
  if (result == SQLITE_ROW) {
    value = text_column(query.get(), 0);
  }
  return result == SQLITE_ROW || result == SQLITE_DONE ? std::error_code() : sqlite_error(result);
}

std::optional<std::string> AuditLog::meta(const char* key) {
  std::optional<std::string> value;
  read_meta(key, value);
  return value;
}

std::error_code AuditLog::set_meta(const char* key, const std::string& value) {
  Statement upsert(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  if (!upsert) {
    return sqlite_error(sqlite3_errcode(db_));
  }
  sqlite3_bind_text(upsert.get(), 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(upsert.get(), 2, value.c_str(), -1, SQLITE_TRANSIENT);
  const int result = sqlite3_step(upsert.get());
  return result == SQLITE_DONE ? std::error_code() : sqlite_error(result);
}

std::error_code AuditLog::read_start(Start& start) {
  start = Start{};
  std::optional<std::string> seq;
  std::optional<std::string> hash;
  if (std::error_code error = read_meta("start_seq", seq)) {
    return error;
  }
  if (std::error_code error = read_meta("start_hash", hash)) {
    return error;
  }
  if (seq && hash) {
    try {
      start.seq = std::stoll(*seq);
      start.hash = *hash;
    } catch (const std::exception&) {
      start = Start{};  // not a number: verify() then finds the records missing
    }
  }
  return {};
}

AuditLog::Start AuditLog::start() {
  Start out;
  read_start(out);
  return out;
}

std::int64_t AuditLog::exported_through() {
  std::optional<std::string> value = meta("exported_through");
  try {
    return value ? std::stoll(*value) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

std::error_code AuditLog::set_exported_through(std::int64_t seq) {
  if (seq <= exported_through()) {
    return {};
  }
  return set_meta("exported_through", std::to_string(seq));
}

std::int64_t AuditLog::prunable_through(const std::string& cutoff_time) {
  const std::int64_t first_kept = start().seq;
  Statement query(db_,
                  "SELECT IFNULL((SELECT MIN(seq) FROM records WHERE time >= ?) - 1,"
                  "              (SELECT MAX(seq) FROM records))");
  if (!query) {
    return first_kept;
  }
  sqlite3_bind_text(query.get(), 1, cutoff_time.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(query.get()) != SQLITE_ROW ||
      sqlite3_column_type(query.get(), 0) == SQLITE_NULL) {
    return first_kept;
  }
  const std::int64_t limit =
      std::min<std::int64_t>(sqlite3_column_int64(query.get(), 0), exported_through());
  // Down to a signed record: its checkpoint stays and signs where the kept records start.
  Statement signed_one(db_, "SELECT MAX(seq) FROM checkpoints WHERE seq <= ?");
  if (!signed_one) {
    return first_kept;
  }
  sqlite3_bind_int64(signed_one.get(), 1, limit);
  if (sqlite3_step(signed_one.get()) != SQLITE_ROW ||
      sqlite3_column_type(signed_one.get(), 0) == SQLITE_NULL) {
    return first_kept;
  }
  return std::max<std::int64_t>(first_kept, sqlite3_column_int64(signed_one.get(), 0));
}

std::error_code AuditLog::prune_through(std::int64_t seq) {
  if (int result = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      result != SQLITE_OK) {
    return sqlite_error(result);
  }
  if (std::error_code error = check_what_was_written()) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return error;
  }
  std::optional<std::string> hash;
  {
    Statement query(db_, "SELECT hash FROM records WHERE seq = ?");
    if (query) {
      sqlite3_bind_int64(query.get(), 1, seq);
      if (sqlite3_step(query.get()) == SQLITE_ROW) {
        hash = text_column(query.get(), 0);
      }
    }
  }
  std::error_code error;
  if (!hash) {
    error = std::make_error_code(std::errc::invalid_argument);
  }
  for (const char* sql :
       {"DELETE FROM records WHERE seq <= ?", "DELETE FROM checkpoints WHERE seq < ?"}) {
    if (error) {
      break;
    }
    Statement remove(db_, sql);
    if (!remove) {
      error = sqlite_error(sqlite3_errcode(db_));
      break;
    }
    sqlite3_bind_int64(remove.get(), 1, seq);
    if (const int result = sqlite3_step(remove.get()); result != SQLITE_DONE) {
      error = sqlite_error(result);
    }
  }
  if (!error) {
    error = set_meta("start_seq", std::to_string(seq));
  }
  if (!error) {
    error = set_meta("start_hash", *hash);
  }
  if (error) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return error;
  }
  if (int result = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); result != SQLITE_OK) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return sqlite_error(result);
  }
  start_ = {seq, *hash};
  return {};
}

std::error_code AuditLog::watch() {
  watching_ = true;
  remembered_ = false;
  changed_.clear();
  return check_now();
}

bool AuditLog::unchanged() {
  if (watching_) {
    check_now();  // an error reading is not a change: the next write fails with it
  }
  return changed_.empty();
}

std::error_code AuditLog::check_now() {
  // A read transaction: the three reads see one state of the file.
  if (int result = sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr); result != SQLITE_OK) {
    return sqlite_error(result);
  }
  const std::error_code error = check_what_was_written();
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  return error;
}

std::error_code AuditLog::read_tip(Tip& tip) {
  Statement last(db_, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1");
  const int result = step_once(db_, last);
  if (result == SQLITE_ROW) {
    tip = {sqlite3_column_int64(last.get(), 0), text_column(last.get(), 1)};
    return {};
  }
  if (result != SQLITE_DONE) {
    return sqlite_error(result);
  }
  Start first;
  const std::error_code error = read_start(first);
  tip = {first.seq, first.hash};
  return error;
}

std::error_code AuditLog::read_newest_checkpoint(std::optional<Tip>& tip) {
  tip.reset();
  Statement last(db_, "SELECT seq, hash FROM checkpoints ORDER BY seq DESC LIMIT 1");
  const int result = step_once(db_, last);
  if (result == SQLITE_ROW) {
    tip = Tip{sqlite3_column_int64(last.get(), 0), text_column(last.get(), 1)};
  }
  return result == SQLITE_ROW || result == SQLITE_DONE ? std::error_code() : sqlite_error(result);
}

std::error_code AuditLog::check_what_was_written() {
  const std::error_code refused = std::make_error_code(std::errc::state_not_recoverable);
  if (!watching_) {
    return {};
  }
  if (!changed_.empty()) {
    return refused;  // once changed, never trusted again
  }
  // Everything is read before anything is compared: a read that fails says nothing.
  Start first;
  Tip newest;
  std::optional<Tip> now;
  if (std::error_code error = read_start(first)) {
    return error;
  }
  if (std::error_code error = read_tip(newest)) {
    return error;
  }
  if (std::error_code error = read_newest_checkpoint(now)) {
    return error;
  }
  if (!remembered_) {  // watch() could not read the file: taken as it is now
    start_ = {first.seq, first.hash};
    written_ = newest;
    signed_ = now;
    remembered_ = true;
    return {};
  }
  const auto named = [](const Tip& tip) {
    return "record " + std::to_string(tip.seq) + " (hash " + tip.hash.substr(0, 16) + "...)";
  };
  if (const Tip kept{first.seq, first.hash}; kept != start_) {
    found_changed("the log's start is no longer where retention left it (after record " +
                  std::to_string(start_.seq) + "; now after record " + std::to_string(kept.seq) +
                  ")");
  } else if (newest != written_) {
    found_changed("the log no longer ends with " + named(written_) +
                  ", the last one sekishod wrote; it ends with " + named(newest));
  } else if (now != signed_) {
    found_changed("the newest checkpoint is no longer the one sekishod signed (" +
                  (signed_ ? "of " + named(*signed_) : std::string("none")) + "; now " +
                  (now ? "of " + named(*now) : std::string("none")) + ")");
  }
  return changed_.empty() ? std::error_code() : refused;
}

void AuditLog::found_changed(const std::string& what) {
  changed_ = "audit.db was changed under sekishod: " + what +
             "; nothing more is written to it or signed until it is looked into and sekishod "
             "restarted";
}

std::uint64_t AuditLog::size_bytes() {
  std::uint64_t total = 0;
  for (const std::string& file : {path_, path_ + "-wal"}) {
    struct stat status {};
    if (::stat(file.c_str(), &status) == 0) {
      total += static_cast<std::uint64_t>(status.st_size);
    }
  }
  return total;
}

std::vector<CoverageCheckpoint> AuditLog::coverage_checkpoints() {
  std::vector<CoverageCheckpoint> out;
  Statement query(db_, (std::string("SELECT seq, time, clock_synchronised, ") + every_column() +
                        " FROM checkpoints ORDER BY seq")
                           .c_str());
  while (query && sqlite3_step(query.get()) == SQLITE_ROW) {
    out.push_back({sqlite3_column_int64(query.get(), 0),
                   epoch_seconds(text_column(query.get(), 1)).value_or(0),
                   sqlite3_column_int(query.get(), 2) != 0,
                   sqlite3_column_type(query.get(), 3) == SQLITE_NULL
                       ? std::nullopt
                       : std::optional<std::int64_t>(sqlite3_column_int64(query.get(), 3))});
  }
  return out;
}

VerifyResult AuditLog::verify(const std::string& public_pem, const VerifyOptions& options) {
  VerifyResult out;
  auto fail = [&out](std::int64_t first_bad, std::string reason) {
    out.ok = false;
    out.first_bad = first_bad;
    out.reason = std::move(reason);
    return out;
  };
  Statement query(db_,
                  "SELECT seq, time, actor, kind, details, previous, hash FROM records "
                  "ORDER BY rowid");
  if (!query) {
    out.ok = false;
    out.reason = "cannot read the log: " + std::string(sqlite3_errmsg(db_));
    return out;
  }
  // The time rule is judged with the signatures: without a key the checkpoints prove
  // nothing about when records were signed.
  const bool timed = !public_pem.empty();
  const std::int64_t now =
      options.now.value_or(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
  CoverageCheck coverage(timed ? coverage_checkpoints() : std::vector<CoverageCheckpoint>{}, now);
  const Start first = start();
  std::string previous = first.hash;
  std::int64_t expected_seq = first.seq + 1;
  bool start_attested = first.seq == 0;
  auto stopped = [&out, &options] {
    out.ok = false;
    out.stopped = true;
    out.reason = "stopped before the end";
    return out;
  };
  while (sqlite3_step(query.get()) == SQLITE_ROW) {
    if (options.stop.stop_requested()) {
      return stopped();
    }
    Record record = record_of(query.get());
    ++out.records;
    std::string why;
    if (record.seq != expected_seq) {
      why = record.seq > expected_seq
                ? "records " + std::to_string(expected_seq) + ".." +
                      std::to_string(record.seq - 1) + " are missing"
                : "sequence number " + std::to_string(record.seq) + " is out of order";
    } else if (record.previous != previous) {
      why = "it does not follow the record before it (the chain is broken)";
    } else if (!record.unreadable.empty()) {
      why = record.unreadable;
    } else {
      std::string hash;
      try {
        hash = record_hash(record.previous, canonical_json(record));
      } catch (const std::exception& error) {
        why = error.what();
      }
      if (why.empty() && hash != record.hash) {
        why = "its content does not match its hash (edited)";
      }
    }
    if (!why.empty()) {
      const std::int64_t bad = std::min(record.seq, expected_seq);
      return fail(bad, "record " + std::to_string(bad) + ": " + why);
    }
    // Pruned records: a record in the chain must name the last one removed and its hash.
    if (!start_attested && record.kind == "audit.pruned" && record.details.is_object() &&
        record.details.value("through", std::int64_t{-1}) == first.seq &&
        record.details.value("hash", "") == first.hash) {
      start_attested = true;
    }
    if (timed) {
      coverage.add(record.seq, epoch_seconds(record.time), record.kind);
    }
    previous = record.hash;
    ++expected_seq;
  }
  if (!start_attested) {
    return fail(1, "records 1.." + std::to_string(first.seq) +
                       " were removed without an audit.pruned record that names them");
  }
  // The chain holds together; do the signed checkpoints agree with it?
  Statement checkpoints(db_, (std::string("SELECT c.seq, c.time, c.clock_synchronised, c.hash, "
                                          "c.signature, r.hash, c.") +
                              every_column() +
                              " FROM checkpoints c LEFT JOIN records r ON r.seq = c.seq "
                              "ORDER BY c.seq")
                                 .c_str());
  // The checkpoints that matched, as (seq, time): a break is named after the last one that
  // was signed before the checkpoint that no longer matches. One signed later, of an earlier
  // record, belongs to the history written after the break (the daemon started again on a
  // log cut short, and signed its new records).
  std::vector<std::pair<std::int64_t, std::string>> matched;
  while (checkpoints && sqlite3_step(checkpoints.get()) == SQLITE_ROW) {
    if (options.stop.stop_requested()) {
      return stopped();
    }
    const std::int64_t seq = sqlite3_column_int64(checkpoints.get(), 0);
    const std::string signed_hash = text_column(checkpoints.get(), 3);
    const std::optional<std::int64_t> every =
        sqlite3_column_type(checkpoints.get(), 6) == SQLITE_NULL
            ? std::nullopt
            : std::optional<std::int64_t>(sqlite3_column_int64(checkpoints.get(), 6));
    // The checkpoint of the last record removed by retention signs where the log starts.
    const bool at_start = seq == first.seq && first.seq > 0;
    std::string why;
    if (sqlite3_column_type(checkpoints.get(), 5) == SQLITE_NULL && !at_start) {
      why = "the records up to the checkpoint at " + std::to_string(seq) + " are gone (removed)";
    } else if ((at_start ? first.hash : text_column(checkpoints.get(), 5)) != signed_hash) {
      why = "the chain was rewritten: the checkpoint at " + std::to_string(seq) +
            " signed another hash";
    } else if (timed && !verify_signature(
                            public_pem,
                            checkpoint_json(seq, signed_hash, text_column(checkpoints.get(), 1),
                                            sqlite3_column_int(checkpoints.get(), 2) != 0, every),
                            text_column(checkpoints.get(), 4))) {
      why = "the checkpoint at " + std::to_string(seq) + " has no valid signature";
    }
    const std::string time = text_column(checkpoints.get(), 1);
    if (!why.empty()) {
      std::int64_t covered = first.seq;  // the records up to here matched, signed before
      for (const auto& [matched_seq, matched_time] : matched) {
        if (matched_time <= time) {  // fixed-width UTC text compares as time
          covered = std::max(covered, matched_seq);
        }
      }
      return fail(covered + 1, "records " + std::to_string(covered + 1) + ".." +
                                   std::to_string(seq) + ": " + why);
    }
    matched.emplace_back(seq, time);
  }
  if (timed) {
    coverage.finish(options.daemon_stopped);
    if (!coverage.ok()) {
      return fail(*coverage.first_bad(), coverage.reason());
    }
    out.unsigned_from = coverage.unsigned_from();
    out.unsigned_records = coverage.unsigned_records();
    out.notes = coverage.notes();
  }
  return out;
}

}  // namespace sekisho::audit
