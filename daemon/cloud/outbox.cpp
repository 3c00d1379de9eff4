#include "daemon/cloud/outbox.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <utility>

#include <sqlite3.h>
#include <sys/stat.h>

#include "daemon/audit/sqlite_db.hpp"

namespace sekisho::cloud {

using audit::sqlite_error;
using audit::Statement;

namespace {

// "SKOB" in the header field sqlite reserves for an application's file format: an outbox
// is recognised by what it says it is, not by guessing from table names.
constexpr std::int32_t kApplicationId = 0x534b4f42;
constexpr std::int32_t kSchemaVersion = 1;

// Ids are AUTOINCREMENT: they come from sqlite_sequence and never go back. A plain rowid
// is max(id) + 1, so once the newest rows are acknowledged or evicted (an emptied table
// starts again at 1), a new row would get an id the sender has already read past, and it
// would never be sent. Topic and payload are BLOBs: any bytes, NUL included, and
// length() counts bytes (of a TEXT it counts characters).
// One transaction, header fields included: a crash leaves either nothing or an outbox.
std::string create_schema() {
  return "BEGIN IMMEDIATE;"
         "PRAGMA application_id = " +
         std::to_string(kApplicationId) +
         ";"
         "PRAGMA user_version = " +
         std::to_string(kSchemaVersion) +
         ";"
         "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic BLOB NOT NULL,"
         "  payload BLOB NOT NULL, received_ms INTEGER NOT NULL);"
         "CREATE TABLE counters (one INTEGER PRIMARY KEY CHECK (one = 1),"
         "  received INTEGER NOT NULL, forwarded INTEGER NOT NULL,"
         "  dropped_full INTEGER NOT NULL, dropped_too_large INTEGER NOT NULL,"
         "  stored_bytes INTEGER NOT NULL);"
         "INSERT INTO counters VALUES (1, 0, 0, 0, 0, 0);"
         "COMMIT;";
}

enum class FileState { New, Outbox };

class Connection {
 public:
  ~Connection() { sqlite3_close(db_); }
  sqlite3*& handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// `path` in a URI (file:...): every byte but the unreserved ones and '/' escaped.
std::string uri_path(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string escaped;
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
        (byte >= '0' && byte <= '9') || c == '/' || c == '.' || c == '-' || c == '_' || c == '~') {
      escaped.push_back(c);
    } else {
      escaped += {'%', kHex[byte >> 4], kHex[byte & 0xf]};
    }
  }
  return escaped;
}

// The integer `sql` yields (SQLITE_OK), or the sqlite result code.
int query_int(sqlite3* db, const char* sql, std::int64_t& value) {
  Statement query(db, sql);
  if (!query) {
    return sqlite3_errcode(db);
  }
  const int result = sqlite3_step(query.get());
  if (result != SQLITE_ROW) {
    return result == SQLITE_DONE ? SQLITE_CORRUPT : result;
  }
  value = sqlite3_column_int64(query.get(), 0);
  return SQLITE_OK;
}

// Looks at the file read-only before anything writes to it (open_database switches the
// journal mode and the schema would add tables): a file that is not an outbox, or is
// corrupt, must stay exactly as it was. Absent, empty, or a sqlite file with no schema
// and no application id at all is New.
std::error_code inspect(const std::string& path, FileState& state) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) {
    if (errno == ENOENT) {
      state = FileState::New;
      return {};
    }
    return {errno, std::system_category()};
  }
  if (status.st_size == 0) {
    state = FileState::New;
    return {};
  }
  // A read-only connection to a WAL database creates the -wal and -shm files when they
  // are missing. Without a -wal file the main file holds the whole database (a crash
  // leaves the -wal behind), so it is then read as immutable: no locks, no side files.
  struct stat wal {};
  const bool has_wal = ::stat((path + "-wal").c_str(), &wal) == 0;
  const std::string name = "file:" + uri_path(path) + (has_wal ? "" : "?immutable=1");
  Connection connection;
  if (int opened = sqlite3_open_v2(name.c_str(), &connection.handle(),
                                   SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
      opened != SQLITE_OK) {
    return sqlite_error(opened);
  }
  sqlite3* db = connection.handle();
  std::int64_t application_id = 0;
  std::int64_t version = 0;
  std::int64_t objects = 0;
  for (auto [sql, value] : {std::pair{"PRAGMA application_id", &application_id},
                            std::pair{"PRAGMA user_version", &version},
                            std::pair{"SELECT count(*) FROM sqlite_master", &objects}}) {
    if (int result = query_int(db, sql, *value); result != SQLITE_OK) {
      return sqlite_error(result);  // random bytes: SQLITE_NOTADB
    }
  }
  if (application_id == 0 && version == 0 && objects == 0) {
    state = FileState::New;
    return {};
  }
  // Another program's database, or an outbox of a later format this build cannot read.
  if (application_id != kApplicationId || version != kSchemaVersion) {
    return sqlite_error(SQLITE_NOTADB);
  }
  Statement check(db, "PRAGMA quick_check");
  if (!check) {
    return sqlite_error(sqlite3_errcode(db));
  }
  const int result = sqlite3_step(check.get());
  if (result != SQLITE_ROW) {
    return sqlite_error(result == SQLITE_DONE ? SQLITE_CORRUPT : result);
  }
  if (audit::text_column(check.get(), 0) != "ok") {
    return sqlite_error(SQLITE_CORRUPT);
  }
  state = FileState::Outbox;
  return {};
}

// Resets a prepared statement (and its bindings) when it goes out of scope, on every path.
class Use {
 public:
  explicit Use(const Statement& statement) : statement_(statement.get()) {}
  ~Use() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  sqlite3_stmt* get() const { return statement_; }
  int step() const { return sqlite3_step(statement_); }

 private:
  sqlite3_stmt* statement_;
};

// Runs a statement that yields no row. SQLITE_DONE on success.
int run(const Statement& statement) {
  Use use(statement);
  return use.step();
}

int bind_bytes(sqlite3_stmt* statement, int index, const std::string& bytes) {
  // data() is never null, so an empty string is a zero-length BLOB, not NULL.
  return sqlite3_bind_blob64(statement, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
}

std::string bytes_column(sqlite3_stmt* statement, int column) {
  const void* data = sqlite3_column_blob(statement, column);
  const int size = sqlite3_column_bytes(statement, column);
  return data ? std::string(static_cast<const char*>(data), static_cast<std::size_t>(size))
              : std::string();
}

std::int64_t as_int(std::uint64_t value) {
  return static_cast<std::int64_t>(value);
}

std::uint64_t as_count(sqlite3_stmt* statement, int column) {
  const std::int64_t value = sqlite3_column_int64(statement, column);
  return value < 0 ? 0 : static_cast<std::uint64_t>(value);
}

}  // namespace

struct Outbox::Statements {
  explicit Statements(sqlite3* db)
      : begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        rollback(db, "ROLLBACK"),
        // length() of a BLOB reads the record header only, not the payload's pages.
        row_bytes(db, "SELECT length(topic) + length(payload) FROM messages WHERE id = ?1"),
        remove(db, "DELETE FROM messages WHERE id = ?1"),
        oldest_after(db,
                     "SELECT id, length(topic) + length(payload) FROM messages WHERE id > ?1 "
                     "ORDER BY id LIMIT 1"),
        bytes_through(db,
                      "SELECT coalesce(sum(length(topic) + length(payload)), 0) FROM messages "
                      "WHERE id <= ?1"),
        insert(db, "INSERT INTO messages (topic, payload, received_ms) VALUES (?1, ?2, ?3)"),
        oldest_time(db, "SELECT received_ms FROM messages ORDER BY id LIMIT 1"),
        save(db,
             "UPDATE counters SET received = ?1, forwarded = ?2, dropped_full = ?3, "
             "dropped_too_large = ?4, stored_bytes = ?5 WHERE one = 1"),
        read(db,
             "SELECT id, topic, payload, received_ms FROM messages WHERE id > ?1 ORDER BY id "
             "LIMIT ?2") {}

  bool prepared() const {
    for (const Statement* statement :
         {&begin, &commit, &rollback, &row_bytes, &remove, &oldest_after, &bytes_through, &insert,
          &oldest_time, &save, &read}) {
      if (!*statement) {
        return false;
      }
    }
    return true;
  }

  Statement begin;
  Statement commit;
  Statement rollback;
  Statement row_bytes;
  Statement remove;
  Statement oldest_after;
  Statement bytes_through;
  Statement insert;
  Statement oldest_time;
  Statement save;
  Statement read;
};

void Outbox::DeleteStatements::operator()(Statements* statements) const {
  delete statements;
}

Outbox::~Outbox() {
  close();
}

void Outbox::close() {
  statements_.reset();  // finalized before the connection closes
  sqlite3_close(db_);
  db_ = nullptr;
  counters_ = {};
}

std::error_code Outbox::open(const std::string& path) {
  close();
  FileState state = FileState::New;
  if (std::error_code error = inspect(path, state)) {
    return error;
  }
  // Between inspect() and here only this daemon touches its state directory.
  const std::string schema = state == FileState::New ? create_schema() : std::string();
  if (std::error_code error = audit::open_database(path, schema.c_str(), db_)) {
    return error;
  }
  statements_.reset(new Statements(db_));
  std::error_code error;
  if (!statements_->prepared()) {
    error = sqlite_error(sqlite3_errcode(db_));
  } else {
    error = load_counters();
  }
  if (error) {
    close();
  }
  return error;
}

// The rows and the counters change in one transaction, so they can only disagree after
// someone edited the file by hand. The rows are what will be forwarded, so they win:
// stored and stored_bytes are counted from them, and `received` is re-based so that
// received = forwarded + stored + dropped holds again (the difference has nowhere to be
// reported: it came from outside). The repaired row is written back at once.
std::error_code Outbox::load_counters() {
  OutboxCounters loaded;
  std::uint64_t saved_stored_bytes = 0;
  {
    Statement query(db_,
                    "SELECT received, forwarded, dropped_full, dropped_too_large, stored_bytes "
                    "FROM counters WHERE one = 1");
    if (!query) {
      return sqlite_error(sqlite3_errcode(db_));
    }
    if (int result = sqlite3_step(query.get()); result != SQLITE_ROW) {
      return sqlite_error(result == SQLITE_DONE ? SQLITE_CORRUPT : result);
    }
    loaded.received = as_count(query.get(), 0);
    loaded.forwarded = as_count(query.get(), 1);
    loaded.dropped_full = as_count(query.get(), 2);
    loaded.dropped_too_large = as_count(query.get(), 3);
    saved_stored_bytes = as_count(query.get(), 4);
  }
  {
    Statement rows(db_,
                   "SELECT count(*), coalesce(sum(length(topic) + length(payload)), 0) "
                   "FROM messages");
    if (!rows) {
      return sqlite_error(sqlite3_errcode(db_));
    }
    if (int result = sqlite3_step(rows.get()); result != SQLITE_ROW) {
      return sqlite_error(result);
    }
    loaded.stored = as_count(rows.get(), 0);
    loaded.stored_bytes = as_count(rows.get(), 1);
  }
  if (loaded.stored > 0) {
    Use oldest(statements_->oldest_time);
    if (int result = oldest.step(); result != SQLITE_ROW) {
      return sqlite_error(result);
    }
    loaded.oldest_received_ms = sqlite3_column_int64(oldest.get(), 0);
  }
  const std::uint64_t accounted = loaded.forwarded + loaded.stored + loaded.dropped();
  if (loaded.received != accounted || saved_stored_bytes != loaded.stored_bytes) {
    loaded.received = accounted;
    int result = run(statements_->begin);
    if (result == SQLITE_DONE) {
      result = save_counters(loaded);
    }
    if (result == SQLITE_DONE) {
      result = run(statements_->commit);
    }
    if (result != SQLITE_DONE) {
      if (!sqlite3_get_autocommit(db_)) {
        run(statements_->rollback);
      }
      return sqlite_error(result);
    }
  }
  counters_ = loaded;
  return {};
}

int Outbox::save_counters(const OutboxCounters& counters) {
  Use save(statements_->save);
  sqlite3_bind_int64(save.get(), 1, as_int(counters.received));
  sqlite3_bind_int64(save.get(), 2, as_int(counters.forwarded));
  sqlite3_bind_int64(save.get(), 3, as_int(counters.dropped_full));
  sqlite3_bind_int64(save.get(), 4, as_int(counters.dropped_too_large));
  sqlite3_bind_int64(save.get(), 5, as_int(counters.stored_bytes));
  const int result = save.step();
  if (result == SQLITE_DONE && sqlite3_changes(db_) != 1) {
    return SQLITE_CORRUPT;  // the counters row is gone
  }
  return result;
}

std::error_code Outbox::commit(const OutboxBatch& batch, CommitResult& result) {
  result = {};
  if (!db_) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  if (batch.empty()) {
    return {};
  }
  // The batch is applied to copies; counters_ and `result` change only once COMMIT did.
  OutboxCounters next = counters_;
  CommitResult done;
  int code = run(statements_->begin);
  if (code != SQLITE_DONE) {
    return sqlite_error(code);  // nothing begun, nothing to undo
  }
  code = apply(batch, next, done);
  if (code == SQLITE_DONE) {
    code = save_counters(next);
  }
  if (code == SQLITE_DONE) {
    code = run(statements_->commit);
  }
  if (code != SQLITE_DONE) {
    // Some errors (SQLITE_FULL, SQLITE_IOERR) have rolled the transaction back already.
    if (!sqlite3_get_autocommit(db_)) {
      run(statements_->rollback);
    }
    return sqlite_error(code);
  }
  counters_ = next;
  result = done;
  return {};
}

// Acknowledgements first (they make room), then the messages dropped for their size,
// then the appends in arrival order.
int Outbox::apply(const OutboxBatch& batch, OutboxCounters& next, CommitResult& done) {
  bool deleted = false;
  for (const std::int64_t id : batch.acked) {
    std::uint64_t bytes = 0;
    {
      Use row(statements_->row_bytes);
      sqlite3_bind_int64(row.get(), 1, id);
      const int result = row.step();
      if (result == SQLITE_DONE) {
        continue;  // forwarded already (a repeated ack), or evicted
      }
      if (result != SQLITE_ROW) {
        return result;
      }
      bytes = as_count(row.get(), 0);
    }
    Use remove(statements_->remove);
    sqlite3_bind_int64(remove.get(), 1, id);
    if (int result = remove.step(); result != SQLITE_DONE) {
      return result;
    }
    ++next.forwarded;
    --next.stored;
    next.stored_bytes -= bytes;
    ++done.forwarded;
    deleted = true;
  }

  next.received += batch.too_large;
  next.dropped_too_large += batch.too_large;

  // Bytes of the rows the sender has read (id <= read_through): never evicted. Asked
  // once, and only when a message does not fit, so that drop-oldest never evicts anything
  // unless the eviction really makes room.
  std::optional<std::uint64_t> pinned_bytes;
  std::int64_t first_new_id = std::numeric_limits<std::int64_t>::max();
  const std::uint64_t max_bytes = limits_.max_bytes;
  for (const Message& message : batch.append) {
    ++next.received;
    const std::uint64_t size = message.topic.size() + message.payload.size();
    bool fits = size <= max_bytes && next.stored_bytes <= max_bytes - size;
    if (!fits && size <= max_bytes && limits_.on_full == OnFull::DropOldest) {
      if (!pinned_bytes) {
        Use through(statements_->bytes_through);
        sqlite3_bind_int64(through.get(), 1, batch.read_through);
        if (int result = through.step(); result != SQLITE_ROW) {
          return result;
        }
        pinned_bytes = as_count(through.get(), 0);
      }
      if (*pinned_bytes <= max_bytes - size) {
        const std::uint64_t evicted_before = done.evicted;
        if (int result = make_room(size, batch.read_through, first_new_id, next, done);
            result != SQLITE_DONE) {
          return result;
        }
        deleted = deleted || done.evicted != evicted_before;
        fits = next.stored_bytes <= max_bytes - size;
      }
    }
    if (!fits) {
      ++next.dropped_full;
      ++done.rejected;
      continue;
    }
    Use insert(statements_->insert);
    bind_bytes(insert.get(), 1, message.topic);
    bind_bytes(insert.get(), 2, message.payload);
    sqlite3_bind_int64(insert.get(), 3, batch.received_ms);
    if (int result = insert.step(); result != SQLITE_DONE) {
      return result;
    }
    const std::int64_t id = sqlite3_last_insert_rowid(db_);
    if (first_new_id == std::numeric_limits<std::int64_t>::max()) {
      first_new_id = id;
    }
    if (pinned_bytes && id <= batch.read_through) {
      *pinned_bytes += size;  // a read_through ahead of the ids: the new row is pinned too
    }
    ++next.stored;
    next.stored_bytes += size;
    ++done.stored;
  }

  // Appends leave the oldest row where it was; deletions may have removed it.
  if (next.stored == 0) {
    next.oldest_received_ms.reset();
  } else if (deleted || !next.oldest_received_ms) {
    Use oldest(statements_->oldest_time);
    if (int result = oldest.step(); result != SQLITE_ROW) {
      return result == SQLITE_DONE ? SQLITE_CORRUPT : result;
    }
    next.oldest_received_ms = sqlite3_column_int64(oldest.get(), 0);
  }
  return SQLITE_DONE;
}

// Evicts the oldest rows after `read_through` until `size` more bytes fit. A row this
// same batch appended may be evicted too: it then counts as evicted, not as stored, so
// that done.stored is what of the batch is still in the file.
int Outbox::make_room(std::uint64_t size, std::int64_t read_through, std::int64_t first_new_id,
                      OutboxCounters& next, CommitResult& done) {
  while (next.stored_bytes > limits_.max_bytes - size) {
    std::int64_t id = 0;
    std::uint64_t bytes = 0;
    {
      Use oldest(statements_->oldest_after);
      sqlite3_bind_int64(oldest.get(), 1, read_through);
      const int result = oldest.step();
      if (result == SQLITE_DONE) {
        return SQLITE_DONE;  // nothing left to evict: the caller rejects
      }
      if (result != SQLITE_ROW) {
        return result;
      }
      id = sqlite3_column_int64(oldest.get(), 0);
      bytes = as_count(oldest.get(), 1);
    }
    Use remove(statements_->remove);
    sqlite3_bind_int64(remove.get(), 1, id);
    if (int result = remove.step(); result != SQLITE_DONE) {
      return result;
    }
    --next.stored;
    next.stored_bytes -= bytes;
    ++next.dropped_full;
    ++done.evicted;
    if (id >= first_new_id) {
      --done.stored;
    }
  }
  return SQLITE_DONE;
}

std::error_code Outbox::read_after(std::int64_t after_id, std::size_t limit,
                                   std::vector<StoredMessage>& out) {
  out.clear();
  if (!db_) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  constexpr std::size_t kMaxLimit = std::numeric_limits<std::int64_t>::max();
  Use read(statements_->read);
  sqlite3_bind_int64(read.get(), 1, after_id);
  sqlite3_bind_int64(read.get(), 2, static_cast<std::int64_t>(std::min(limit, kMaxLimit)));
  int result = SQLITE_ROW;
  while ((result = read.step()) == SQLITE_ROW) {
    out.push_back({sqlite3_column_int64(read.get(), 0), bytes_column(read.get(), 1),
                   bytes_column(read.get(), 2), sqlite3_column_int64(read.get(), 3)});
  }
  if (result != SQLITE_DONE) {
    out.clear();
    return sqlite_error(result);
  }
  return {};
}

}  // namespace sekisho::cloud
