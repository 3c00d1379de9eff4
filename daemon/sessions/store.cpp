#include "daemon/sessions/store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

namespace sekisho::sessions {

namespace {

std::error_code sqlite_failure(int code) {
  return code == SQLITE_FULL       ? std::make_error_code(std::errc::no_space_on_device)
         : code == SQLITE_READONLY ? std::make_error_code(std::errc::read_only_file_system)
                                   : std::make_error_code(std::errc::io_error);
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr); }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return statement_ != nullptr; }
  void bind(int index, std::int64_t value) { sqlite3_bind_int64(statement_, index, value); }
  void bind(int index, const std::string& value) {
    sqlite3_bind_text(statement_, index, value.c_str(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
  }
  int step() { return sqlite3_step(statement_); }
  std::int64_t integer(int column) { return sqlite3_column_int64(statement_, column); }
  std::string text(int column) {
    const auto* bytes = sqlite3_column_text(statement_, column);
    return bytes ? reinterpret_cast<const char*>(bytes) : "";
  }

 private:
  sqlite3_stmt* statement_ = nullptr;
};

}  // namespace

nlohmann::json to_json(const FlowRecord& flow) {
  return {{"conntrack_id", flow.conntrack_id},
          {"started_ms", flow.started_ms},
          {"ended_ms", flow.ended_ms},
          {"protocol", flow.protocol == 6    ? "tcp"
                       : flow.protocol == 17 ? "udp"
                                             : "other"},
          {"source", flow.source},
          {"source_port", flow.source_port},
          {"destination", flow.destination},
          {"destination_port", flow.destination_port},
          {"packets_to_target", flow.packets_to_target},
          {"bytes_to_target", flow.bytes_to_target},
          {"packets_from_target", flow.packets_from_target},
          {"bytes_from_target", flow.bytes_from_target}};
}

Store::~Store() {
  sqlite3_close(db_);
}

std::error_code Store::open(const std::string& path) {
  const mode_t old_mask = ::umask(077);
  const int opened =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  ::umask(old_mask);
  if (opened != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    return sqlite_failure(opened);
  }
  const char* setup =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS sessions ("
      "  number INTEGER PRIMARY KEY, state TEXT NOT NULL, record TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS flows ("
      "  session INTEGER NOT NULL, conntrack_id INTEGER NOT NULL, started_ms INTEGER NOT NULL,"
      "  ended_ms INTEGER NOT NULL, protocol INTEGER NOT NULL,"
      "  source TEXT NOT NULL, source_port INTEGER NOT NULL,"
      "  destination TEXT NOT NULL, destination_port INTEGER NOT NULL,"
      "  packets_to INTEGER NOT NULL, bytes_to INTEGER NOT NULL,"
      "  packets_from INTEGER NOT NULL, bytes_from INTEGER NOT NULL,"
      "  PRIMARY KEY (session, conntrack_id, protocol, source, source_port));";
  if (int result = sqlite3_exec(db_, setup, nullptr, nullptr, nullptr); result != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    return sqlite_failure(result);
  }
  return {};
}

std::error_code Store::save(const Session& session) {
  Statement statement(db_,
                      "INSERT OR REPLACE INTO sessions (number, state, record) VALUES (?, ?, ?)");
  if (!statement.ok()) {
    return std::make_error_code(std::errc::io_error);
  }
  statement.bind(1, static_cast<std::int64_t>(session.number));
  statement.bind(2, std::string(state_name(session.state)));
  // Text from the outside (a user name, a reason) is stored as U+FFFD where it is not
  // UTF-8, as the audit log stores it, rather than refused.
  statement.bind(3,
                 to_json(session).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  const int result = statement.step();
  return result == SQLITE_DONE ? std::error_code() : sqlite_failure(result);
}

std::vector<Session> Store::load(bool open_only, std::vector<std::string>& errors) {
  std::vector<Session> out;
  Statement statement(db_, open_only ? "SELECT record FROM sessions WHERE state = 'open' "
                                       "ORDER BY number"
                                     : "SELECT record FROM sessions ORDER BY number");
  while (statement.ok() && statement.step() == SQLITE_ROW) {
    try {
      out.push_back(session_from_json(nlohmann::json::parse(statement.text(0))));
    } catch (const std::exception& error) {
      errors.push_back(error.what());
    }
  }
  return out;
}

std::optional<Session> Store::find(std::uint32_t number, std::string& error) {
  Statement statement(db_, "SELECT record FROM sessions WHERE number = ?");
  statement.bind(1, static_cast<std::int64_t>(number));
  if (statement.ok() && statement.step() == SQLITE_ROW) {
    try {
      return session_from_json(nlohmann::json::parse(statement.text(0)));
    } catch (const std::exception& failure) {
      error = failure.what();
    }
  }
  return std::nullopt;
}

std::uint32_t Store::next_number() {
  Statement statement(db_, "SELECT COALESCE(MAX(number), 0) FROM sessions");
  return statement.ok() && statement.step() == SQLITE_ROW
             ? static_cast<std::uint32_t>(statement.integer(0) + 1)
             : 1;
}

std::error_code Store::save_flow(std::uint32_t session, const FlowRecord& flow) {
  Statement statement(db_,
                      "INSERT INTO flows (session, conntrack_id, started_ms, ended_ms, "
                      "protocol, source, source_port, destination, destination_port, packets_to, "
                      "bytes_to, packets_from, bytes_from) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      // A flow is seen at its start (our clock), in dumps and at its end
                      // (the kernel's timestamps, counters that only grow): one row.
                      "ON CONFLICT (session, conntrack_id, protocol, source, source_port) "
                      "DO UPDATE SET started_ms = CASE WHEN excluded.started_ms > 0 AND "
                      "(started_ms = 0 OR excluded.started_ms < started_ms) "
                      "THEN excluded.started_ms ELSE started_ms END, "
                      "ended_ms = MAX(ended_ms, excluded.ended_ms), "
                      "packets_to = MAX(packets_to, excluded.packets_to), "
                      "bytes_to = MAX(bytes_to, excluded.bytes_to), "
                      "packets_from = MAX(packets_from, excluded.packets_from), "
                      "bytes_from = MAX(bytes_from, excluded.bytes_from)");
  if (!statement.ok()) {
    return std::make_error_code(std::errc::io_error);
  }
  statement.bind(1, static_cast<std::int64_t>(session));
  statement.bind(2, static_cast<std::int64_t>(flow.conntrack_id));
  statement.bind(3, flow.started_ms);
  statement.bind(4, flow.ended_ms);
  statement.bind(5, static_cast<std::int64_t>(flow.protocol));
  statement.bind(6, flow.source);
  statement.bind(7, static_cast<std::int64_t>(flow.source_port));
  statement.bind(8, flow.destination);
  statement.bind(9, static_cast<std::int64_t>(flow.destination_port));
  statement.bind(10, static_cast<std::int64_t>(flow.packets_to_target));
  statement.bind(11, static_cast<std::int64_t>(flow.bytes_to_target));
  statement.bind(12, static_cast<std::int64_t>(flow.packets_from_target));
  statement.bind(13, static_cast<std::int64_t>(flow.bytes_from_target));
  const int result = statement.step();
  return result == SQLITE_DONE ? std::error_code() : sqlite_failure(result);
}

std::vector<FlowRecord> Store::flows(std::uint32_t session) {
  std::vector<FlowRecord> out;
  Statement statement(db_,
                      "SELECT conntrack_id, started_ms, ended_ms, protocol, source, source_port, "
                      "destination, destination_port, packets_to, bytes_to, packets_from, "
                      "bytes_from FROM flows WHERE session = ? ORDER BY started_ms, conntrack_id");
  statement.bind(1, static_cast<std::int64_t>(session));
  while (statement.ok() && statement.step() == SQLITE_ROW) {
    FlowRecord flow;
    flow.conntrack_id = static_cast<std::uint32_t>(statement.integer(0));
    flow.started_ms = statement.integer(1);
    flow.ended_ms = statement.integer(2);
    flow.protocol = static_cast<std::uint8_t>(statement.integer(3));
    flow.source = statement.text(4);
    flow.source_port = static_cast<std::uint16_t>(statement.integer(5));
    flow.destination = statement.text(6);
    flow.destination_port = static_cast<std::uint16_t>(statement.integer(7));
    flow.packets_to_target = static_cast<std::uint64_t>(statement.integer(8));
    flow.bytes_to_target = static_cast<std::uint64_t>(statement.integer(9));
    flow.packets_from_target = static_cast<std::uint64_t>(statement.integer(10));
    flow.bytes_from_target = static_cast<std::uint64_t>(statement.integer(11));
    out.push_back(std::move(flow));
  }
  return out;
}

}  // namespace sekisho::sessions
