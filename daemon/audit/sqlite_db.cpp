#include "daemon/audit/sqlite_db.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

namespace sekisho::audit {

namespace {

class SqliteCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int code) const override { return sqlite3_errstr(code); }
};

}  // namespace

std::error_code sqlite_error(int code) {
  static const SqliteCategory category;
  return std::error_code(code, category);
}

std::error_code open_database(const std::string& path, const char* schema, sqlite3*& db) {
  const mode_t old_mask = ::umask(077);
  const int opened =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  ::umask(old_mask);
  int result = opened;
  if (result == SQLITE_OK) {
    result = sqlite3_busy_timeout(db, kLockWaitMilliseconds);
  }
  if (result == SQLITE_OK) {
    result = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr,
                          nullptr);
  }
  if (result == SQLITE_OK) {
    result = sqlite3_exec(db, schema, nullptr, nullptr, nullptr);
  }
  if (result != SQLITE_OK) {
    sqlite3_close(db);
    db = nullptr;
    return sqlite_error(result);
  }
  return {};
}

std::error_code open_database_read_only(const std::string& path, sqlite3*& db) {
  int result = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (result == SQLITE_OK) {
    result = sqlite3_busy_timeout(db, kLockWaitMilliseconds);
  }
  if (result != SQLITE_OK) {
    sqlite3_close(db);
    db = nullptr;
    return sqlite_error(result);
  }
  return {};
}

Statement::Statement(sqlite3* db, const char* sql) {
  if (sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr) != SQLITE_OK) {
    sqlite3_finalize(statement_);
    statement_ = nullptr;
  }
}

Statement::~Statement() {
  sqlite3_finalize(statement_);
}

std::string text_column(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

}  // namespace sekisho::audit
