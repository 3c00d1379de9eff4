#pragma once
// One jump session: who let which VPN peer reach which maintenance target, why, until
// when, and how it ended. Its number names it ("s-7") and is the ct mark its connections
// carry. Times are milliseconds since the Unix epoch (UTC).

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/audit/audit_log.hpp"
#include "daemon/sessions/grant.hpp"

namespace sekisho::sessions {

enum class State {
  Open,
  Closed,   // by an operator (close, close --all)
  Expired,  // its deadline passed
  Ended,    // a policy change took away its peer or target
};

std::string_view state_name(State state);
std::optional<State> state_from_name(std::string_view name);

// Bytes and connections of the session's finished flows (live ones are read from
// conntrack when asked).
struct Totals {
  std::uint64_t flows = 0;
  std::uint64_t bytes_to_target = 0;
  std::uint64_t bytes_from_target = 0;
};

struct Session {
  std::uint32_t number = 0;
  Grant grant;
  audit::Actor opened_by;
  std::int64_t opened_ms = 0;
  std::int64_t deadline_ms = 0;
  std::string reason;
  std::string ticket;
  std::int64_t open_seq = 0;  // its session.open audit record
  int extensions = 0;
  State state = State::Open;
  std::int64_t ended_ms = 0;
  audit::Actor closed_by;    // who closed it (the daemon for expiry and policy changes)
  std::string close_reason;  // the operator's words, "expired", or what the policy changed
  Totals totals;

  std::string id() const { return "s-" + std::to_string(number); }
  bool open() const { return state == State::Open; }
  std::int64_t remaining_ms(std::int64_t now_ms) const {
    return open() && deadline_ms > now_ms ? deadline_ms - now_ms : 0;
  }
};

// The stored form (sessions.db); also what `session show --json` builds on.
nlohmann::json to_json(const Session& session);
Session session_from_json(const nlohmann::json& json);  // throws on a malformed record

// "s-7" or "7" → 7.
std::optional<std::uint32_t> parse_session_id(std::string_view text);

}  // namespace sekisho::sessions
