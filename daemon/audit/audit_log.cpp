#include "daemon/audit/audit_log.hpp"

#include <cmath>
#include <stdexcept>

#include <sqlite3.h>
#include <sys/stat.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

// sqlite result codes as error_codes: the message is sqlite's own.
class SqliteCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int code) const override { return sqlite3_errstr(code); }
};

std::error_code sqlite_error(int code) {
  static const SqliteCategory category;
  return std::error_code(code, category);
}

// A prepared statement, finalized on every path.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr) != SQLITE_OK) {
      statement_ = nullptr;
    }
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return statement_; }
  explicit operator bool() const { return statement_ != nullptr; }

 private:
  sqlite3_stmt* statement_ = nullptr;
};

std::string text_column(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

// Only integers, strings, booleans, null, arrays and objects: a float's text differs
// between implementations, so the canonical form refuses them.
void check_integers_only(const nlohmann::json& value) {
  if (value.is_number_float()) {
    throw std::invalid_argument("audit details may hold integers only, not " + value.dump());
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
  nlohmann::json actor = nlohmann::json::parse(text_column(statement, 2), nullptr, false);
  if (actor.is_object()) {
    record.actor = {actor.value("uid", std::int64_t{0}), actor.value("user", ""),
                    actor.value("role", "")};
  }
  record.kind = text_column(statement, 3);
  record.details = nlohmann::json::parse(text_column(statement, 4), nullptr, false);
  record.previous = text_column(statement, 5);
  record.hash = text_column(statement, 6);
  return record;
}

}  // namespace

std::string canonical_json(const Record& record) {
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
                            bool clock_synchronised) {
  return nlohmann::json{
      {"seq", seq}, {"hash", hash}, {"time", time}, {"clock_synchronised", clock_synchronised}}
      .dump();
}

AuditLog::~AuditLog() {
  sqlite3_close(db_);
}

std::error_code AuditLog::open(const std::string& path) {
  const mode_t old_mask = ::umask(077);  // the log and its WAL files: 0600
  const int opened =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  ::umask(old_mask);
  if (opened != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    return sqlite_error(opened);
  }
  const char* setup =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS records ("
      "  seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,"
      "  details TEXT NOT NULL, previous TEXT NOT NULL, hash TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS checkpoints ("
      "  seq INTEGER PRIMARY KEY, time TEXT NOT NULL, clock_synchronised INTEGER NOT NULL,"
      "  hash TEXT NOT NULL, signature TEXT NOT NULL);";
  if (int result = sqlite3_exec(db_, setup, nullptr, nullptr, nullptr); result != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    return sqlite_error(result);
  }
  return {};
}

std::error_code AuditLog::append(const std::string& time, const Actor& actor,
                                 const std::string& kind, const nlohmann::json& details,
                                 Record* written) {
  if (!db_) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  check_integers_only(details);  // throws before anything is begun
  // One transaction: reading the last record and writing the next cannot interleave.
  if (int result = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      result != SQLITE_OK) {
    return sqlite_error(result);
  }
  Record record;
  record.time = time;
  record.actor = actor;
  record.kind = kind;
  record.details = details;
  record.seq = 1;
  record.previous = kGenesis;
  {
    Statement last(db_, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1");
    if (last && sqlite3_step(last.get()) == SQLITE_ROW) {
      record.seq = sqlite3_column_int64(last.get(), 0) + 1;
      record.previous = text_column(last.get(), 1);
    }
  }
  record.hash = record_hash(record.previous, canonical_json(record));
  int result = SQLITE_ERROR;
  {
    Statement insert(db_,
                     "INSERT INTO records (seq, time, actor, kind, details, previous, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (insert) {
      const std::string actor_json =
          nlohmann::json{{"uid", actor.uid}, {"user", actor.user}, {"role", actor.role}}.dump();
      const std::string details_json = record.details.dump();
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
  if (written) {
    *written = std::move(record);
  }
  return {};
}

std::vector<Record> AuditLog::records(std::int64_t since, const std::string& kind,
                                      std::size_t limit) {
  std::vector<Record> out;
  Statement query(db_,
                  "SELECT seq, time, actor, kind, details, previous, hash FROM records "
                  "WHERE seq >= ? AND (? = '' OR kind = ?) ORDER BY seq LIMIT ?");
  if (!query) {
    return out;
  }
  sqlite3_bind_int64(query.get(), 1, since);
  sqlite3_bind_text(query.get(), 2, kind.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(query.get(), 3, kind.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(query.get(), 4, static_cast<sqlite3_int64>(limit));
  while (sqlite3_step(query.get()) == SQLITE_ROW) {
    out.push_back(record_of(query.get()));
  }
  return out;
}

std::error_code AuditLog::add_checkpoint(const Signer& signer, const std::string& time,
                                         bool clock_synchronised) {
  Statement last(db_, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1");
  if (!last || sqlite3_step(last.get()) != SQLITE_ROW) {
    return {};  // nothing to sign yet
  }
  const std::int64_t seq = sqlite3_column_int64(last.get(), 0);
  const std::string hash = text_column(last.get(), 1);
  const std::string signature =
      signer.sign_hex(checkpoint_json(seq, hash, time, clock_synchronised));
  Statement insert(db_,
                   "INSERT OR IGNORE INTO checkpoints (seq, time, clock_synchronised, hash, "
                   "signature) VALUES (?, ?, ?, ?, ?)");
  if (!insert || signature.empty()) {
    return sqlite_error(SQLITE_ERROR);
  }
  sqlite3_bind_int64(insert.get(), 1, seq);
  sqlite3_bind_text(insert.get(), 2, time.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(insert.get(), 3, clock_synchronised ? 1 : 0);
  sqlite3_bind_text(insert.get(), 4, hash.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.get(), 5, signature.c_str(), -1, SQLITE_TRANSIENT);
  const int result = sqlite3_step(insert.get());
  return result == SQLITE_DONE ? std::error_code() : sqlite_error(result);
}

std::int64_t AuditLog::records_since_checkpoint() {
  Statement query(db_,
                  "SELECT (SELECT IFNULL(MAX(seq), 0) FROM records) - "
                  "(SELECT IFNULL(MAX(seq), 0) FROM checkpoints)");
  if (!query || sqlite3_step(query.get()) != SQLITE_ROW) {
    return 0;
  }
  return sqlite3_column_int64(query.get(), 0);
}

VerifyResult AuditLog::verify(const std::string& public_pem) {
  VerifyResult out;
  Statement query(db_,
                  "SELECT seq, time, actor, kind, details, previous, hash FROM records "
                  "ORDER BY rowid");
  if (!query) {
    return {false, 0, std::nullopt, "cannot read the log: " + std::string(sqlite3_errmsg(db_))};
  }
  std::string previous = kGenesis;
  std::int64_t expected_seq = 1;
  while (sqlite3_step(query.get()) == SQLITE_ROW) {
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
    } else if (record.details.is_discarded()) {
      why = "its details are not JSON";
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
      out.ok = false;
      out.first_bad = std::min(record.seq, expected_seq);
      out.reason = "record " + std::to_string(*out.first_bad) + ": " + why;
      return out;
    }
    previous = record.hash;
    ++expected_seq;
  }
  // The chain holds together; do the signed checkpoints agree with it?
  Statement checkpoints(db_,
                        "SELECT c.seq, c.time, c.clock_synchronised, c.hash, c.signature, "
                        "r.hash FROM checkpoints c LEFT JOIN records r ON r.seq = c.seq "
                        "ORDER BY c.seq");
  std::int64_t covered = 0;  // the records up to here matched an earlier checkpoint
  while (checkpoints && sqlite3_step(checkpoints.get()) == SQLITE_ROW) {
    const std::int64_t seq = sqlite3_column_int64(checkpoints.get(), 0);
    const std::string signed_hash = text_column(checkpoints.get(), 3);
    std::string why;
    if (sqlite3_column_type(checkpoints.get(), 5) == SQLITE_NULL) {
      why = "the records up to the checkpoint at " + std::to_string(seq) + " are gone (removed)";
    } else if (text_column(checkpoints.get(), 5) != signed_hash) {
      why = "the chain was rewritten: the checkpoint at " + std::to_string(seq) +
            " signed another hash";
    } else if (!public_pem.empty() &&
               !verify_signature(
                   public_pem,
                   checkpoint_json(seq, signed_hash, text_column(checkpoints.get(), 1),
                                   sqlite3_column_int(checkpoints.get(), 2) != 0),
                   text_column(checkpoints.get(), 4))) {
      why = "the checkpoint at " + std::to_string(seq) + " has no valid signature";
    }
    if (!why.empty()) {
      out.ok = false;
      out.first_bad = covered + 1;
      out.reason =
          "records " + std::to_string(covered + 1) + ".." + std::to_string(seq) + ": " + why;
      return out;
    }
    covered = seq;
  }
  return out;
}

}  // namespace sekisho::audit
