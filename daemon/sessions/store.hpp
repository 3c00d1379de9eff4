#pragma once
// Sessions and their flow records on disk: sqlite (WAL, synchronous=FULL), 0600, in the
// state directory next to the audit log. The audit log is the evidence; this is the
// daemon's memory, so that sessions survive a restart with their deadlines and `session
// show` can list a session's connections long after it ended.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/sessions/session.hpp"

struct sqlite3;

namespace sekisho::sessions {

// One connection of a session, as conntrack reported it (ended_ms 0: still open).
struct FlowRecord {
  std::uint32_t conntrack_id = 0;
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
  std::uint8_t protocol = 0;
  std::string source;
  std::uint16_t source_port = 0;
  std::string destination;
  std::uint16_t destination_port = 0;
  std::uint64_t packets_to_target = 0;
  std::uint64_t bytes_to_target = 0;
  std::uint64_t packets_from_target = 0;
  std::uint64_t bytes_from_target = 0;
};

nlohmann::json to_json(const FlowRecord& flow);

class Store {
 public:
  Store() = default;
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::error_code open(const std::string& path);
  // Opens the store at `path` read-only as it is now: for reading it on another thread
  // (`session list` off the event loop).
  std::error_code open_snapshot(const std::string& path);

  std::error_code save(const Session& session);
  // Every stored session (open ones only with `open_only`), oldest first; a record that
  // cannot be read is reported in `errors` and skipped.
  std::vector<Session> load(bool open_only, std::vector<std::string>& errors);
  std::optional<Session> find(std::uint32_t number, std::string& error);
  // Numbers are never reused: a ct mark names one session for good.
  std::uint32_t next_number();

  // Inserts a flow, or updates the one with the same session, conntrack id, protocol and
  // source: the earliest start, the latest end, the larger counters.
  std::error_code save_flow(std::uint32_t session, const FlowRecord& flow);
  std::vector<FlowRecord> flows(std::uint32_t session);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace sekisho::sessions
