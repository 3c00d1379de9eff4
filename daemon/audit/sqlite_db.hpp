#pragma once
// What the daemon's sqlite files share (the audit log, the session store): opened 0600 in
// WAL mode with synchronous=FULL (a record that was answered for survives a power cut),
// prepared statements finalized on every path, and sqlite's result codes as error_codes.

#include <string>
#include <system_error>

struct sqlite3;
struct sqlite3_stmt;

namespace sekisho::audit {

// A sqlite result code; the message is sqlite's own.
std::error_code sqlite_error(int code);

// How long a connection waits for a lock another one holds (an export's reader during a
// WAL checkpoint, someone's sqlite3 shell) before its statement fails with SQLITE_BUSY.
inline constexpr int kLockWaitMilliseconds = 5000;

// Opens (creating it, and its WAL files, 0600) the database at `path`, waiting up to
// kLockWaitMilliseconds for a lock, and runs `schema` (CREATE TABLE IF NOT EXISTS ...).
// On failure `db` is null.
std::error_code open_database(const std::string& path, const char* schema, sqlite3*& db);

// Opens an existing database at `path` read-only (a reader beside the daemon's writer: WAL
// lets both go on), waiting up to kLockWaitMilliseconds for a lock.
std::error_code open_database_read_only(const std::string& path, sqlite3*& db);

class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return statement_; }
  explicit operator bool() const { return statement_ != nullptr; }

 private:
  sqlite3_stmt* statement_ = nullptr;
};

// A text column ("" for NULL).
std::string text_column(sqlite3_stmt* statement, int column);

}  // namespace sekisho::audit
