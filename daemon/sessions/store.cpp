#include "daemon/sessions/store.hpp"

#include <sqlite3.h>

#include "daemon/audit/sqlite_db.hpp"

namespace sekisho::sessions {

namespace {

using audit::Statement;
using audit::text_column;

// Binding helpers: the columns are integers and text only.
void bind_value(Statement& statement, int index, std::int64_t value) {
  sqlite3_bind_int64(statement.get(), index, value);
}
void bind_value(Statement& statement, int index, const std::string& value) {
  sqlite3_bind_text(statement.get(), index, value.c_str(), static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
}

std::error_code step_done(Statement& statement) {
  const int result = sqlite3_step(statement.get());
  return result == SQLITE_DONE ? std::error_code() : audit::sqlite_error(result);
}

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
  const char* schema =
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
  return audit::open_database(path, schema, db_);
}

std::error_code Store::open_snapshot(const std::string& path) {
  if (std::error_code error = audit::open_database_read_only(path, db_)) {
    return error;
  }
  // One read transaction (deferred: the first read takes the snapshot) until closed.
  if (const int result =
          sqlite3_exec(db_, "BEGIN; SELECT COUNT(*) FROM sessions;", nullptr, nullptr, nullptr);
      result != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    return audit::sqlite_error(result);
  }
  return {};
}

std::error_code Store::save(const Session& session) {
  Statement statement(db_,
                      "INSERT OR REPLACE INTO sessions (number, state, record) VALUES (?, ?, ?)");
  if (!statement) {
    return std::make_error_code(std::errc::io_error);
  }
  bind_value(statement, 1, static_cast<std::int64_t>(session.number));
  bind_value(statement, 2, std::string(state_name(session.state)));
  // Text from the outside (a user name, a reason) is stored as U+FFFD where it is not
  // UTF-8, as the audit log stores it, rather than refused.
  bind_value(statement, 3,
             to_json(session).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return step_done(statement);
}

std::vector<Session> Store::load(bool open_only, std::vector<std::string>& errors) {
  std::vector<Session> out;
  Statement statement(db_, open_only ? "SELECT record FROM sessions WHERE state = 'open' "
                                       "ORDER BY number"
                                     : "SELECT record FROM sessions ORDER BY number");
  while (statement && sqlite3_step(statement.get()) == SQLITE_ROW) {
    try {
      out.push_back(session_from_json(nlohmann::json::parse(text_column(statement.get(), 0))));
    } catch (const std::exception& error) {
      errors.push_back(error.what());
    }
  }
  return out;
}

std::optional<Session> Store::find(std::uint32_t number, std::string& error) {
  Statement statement(db_, "SELECT record FROM sessions WHERE number = ?");
  bind_value(statement, 1, static_cast<std::int64_t>(number));
  if (statement && sqlite3_step(statement.get()) == SQLITE_ROW) {
    try {
      return session_from_json(nlohmann::json::parse(text_column(statement.get(), 0)));
    } catch (const std::exception& failure) {
      error = failure.what();
    }
  }
  return std::nullopt;
}

std::uint32_t Store::next_number() {
  Statement statement(db_, "SELECT COALESCE(MAX(number), 0) FROM sessions");
  return statement && sqlite3_step(statement.get()) == SQLITE_ROW
             ? static_cast<std::uint32_t>(sqlite3_column_int64(statement.get(), 0) + 1)
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
  if (!statement) {
    return std::make_error_code(std::errc::io_error);
  }
  bind_value(statement, 1, static_cast<std::int64_t>(session));
  bind_value(statement, 2, static_cast<std::int64_t>(flow.conntrack_id));
  bind_value(statement, 3, flow.started_ms);
  bind_value(statement, 4, flow.ended_ms);
  bind_value(statement, 5, static_cast<std::int64_t>(flow.protocol));
  bind_value(statement, 6, flow.source);
  bind_value(statement, 7, static_cast<std::int64_t>(flow.source_port));
  bind_value(statement, 8, flow.destination);
  bind_value(statement, 9, static_cast<std::int64_t>(flow.destination_port));
  bind_value(statement, 10, static_cast<std::int64_t>(flow.packets_to_target));
  bind_value(statement, 11, static_cast<std::int64_t>(flow.bytes_to_target));
  bind_value(statement, 12, static_cast<std::int64_t>(flow.packets_from_target));
  bind_value(statement, 13, static_cast<std::int64_t>(flow.bytes_from_target));
  return step_done(statement);
}

std::vector<FlowRecord> Store::flows(std::uint32_t session) {
  std::vector<FlowRecord> out;
  Statement statement(db_,
                      "SELECT conntrack_id, started_ms, ended_ms, protocol, source, source_port, "
                      "destination, destination_port, packets_to, bytes_to, packets_from, "
                      "bytes_from FROM flows WHERE session = ? ORDER BY started_ms, conntrack_id");
  bind_value(statement, 1, static_cast<std::int64_t>(session));
  while (statement && sqlite3_step(statement.get()) == SQLITE_ROW) {
    FlowRecord flow;
    flow.conntrack_id = static_cast<std::uint32_t>(sqlite3_column_int64(statement.get(), 0));
    flow.started_ms = sqlite3_column_int64(statement.get(), 1);
    flow.ended_ms = sqlite3_column_int64(statement.get(), 2);
    flow.protocol = static_cast<std::uint8_t>(sqlite3_column_int64(statement.get(), 3));
    flow.source = text_column(statement.get(), 4);
    flow.source_port = static_cast<std::uint16_t>(sqlite3_column_int64(statement.get(), 5));
    flow.destination = text_column(statement.get(), 6);
    flow.destination_port = static_cast<std::uint16_t>(sqlite3_column_int64(statement.get(), 7));
    flow.packets_to_target = static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 8));
    flow.bytes_to_target = static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 9));
    flow.packets_from_target =
        static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 10));
    flow.bytes_from_target = static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 11));
    out.push_back(std::move(flow));
  }
  return out;
}

}  // namespace sekisho::sessions
