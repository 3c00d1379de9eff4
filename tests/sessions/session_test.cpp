// The session record: its stored JSON form reads back as the same session, and session ids
// are "s-N" or "N" with N a positive 32-bit number.
#include "daemon/sessions/session.hpp"

#include <doctest/doctest.h>

#include "tests/sessions/session_fixture.hpp"

using namespace sekisho;
using namespace sekisho::sessions;
using sekisho::sessions::testing::grant_of;

namespace {

// A session with every field set to something other than its default.
Session full_session(const std::string& peer, const std::string& target) {
  Session session;
  session.number = 42;
  session.grant = grant_of(peer, target);
  session.opened_by = {1001, "alice", "operator"};
  session.opened_ms = 1767225600123;
  session.deadline_ms = 1767229200123;
  session.reason = "replace the HMI's firmware, \"v2.1\"\nsecond line";
  session.ticket = "CHG-4711";
  session.open_seq = 17;
  session.extensions = 2;
  session.state = State::Closed;
  session.ended_ms = 1767228000000;
  session.closed_by = {0, "root", "admin"};
  session.close_reason = "done";
  session.totals = {3, 10485760, 20971520};
  return session;
}

void check_same(const audit::Actor& a, const audit::Actor& b) {
  CHECK(a.uid == b.uid);
  CHECK(a.user == b.user);
  CHECK(a.role == b.role);
}

void check_same(const Session& a, const Session& b) {
  CHECK(a.number == b.number);
  CHECK(a.grant == b.grant);
  check_same(a.opened_by, b.opened_by);
  CHECK(a.opened_ms == b.opened_ms);
  CHECK(a.deadline_ms == b.deadline_ms);
  CHECK(a.reason == b.reason);
  CHECK(a.ticket == b.ticket);
  CHECK(a.open_seq == b.open_seq);
  CHECK(a.extensions == b.extensions);
  CHECK(a.state == b.state);
  CHECK(a.ended_ms == b.ended_ms);
  check_same(a.closed_by, b.closed_by);
  CHECK(a.close_reason == b.close_reason);
  CHECK(a.totals.flows == b.totals.flows);
  CHECK(a.totals.bytes_to_target == b.totals.bytes_to_target);
  CHECK(a.totals.bytes_from_target == b.totals.bytes_from_target);
}

}  // namespace

TEST_CASE("a session's JSON reads back as the same session, also through text") {
  for (const auto& [peer, target] :
       {std::pair{"vendor", "hmi-screen"}, std::pair{"vendor6", "hmi-screen"},
        std::pair{"vendor", "plc-program"}}) {
    CAPTURE(target);
    const Session session = full_session(peer, target);
    const nlohmann::json json = to_json(session);
    check_same(session_from_json(json), session);
    check_same(session_from_json(nlohmann::json::parse(json.dump())), session);
  }
}

TEST_CASE("an open session with default fields reads back too") {
  Session session;
  session.number = 1;
  session.grant = grant_of("vendor", "plc-screen");
  check_same(session_from_json(to_json(session)), session);
  CHECK(session_from_json(to_json(session)).open());
}

// grant_for gives an "any" target tcp/1-65535 and udp/1-65535; the stored form writes them
// as text, which must read back, or the session is lost at sekishod's next start.
TEST_CASE("a session to an 'any' target reads back") {
  const Session session = full_session("vendor", "hmi-all");
  nlohmann::json json;
  CHECK_NOTHROW(json = to_json(session));
  Session back;
  REQUIRE_NOTHROW(back = session_from_json(json));
  check_same(back, session);
}

TEST_CASE("the stored form names the session and its grant in plain words") {
  const Session session = full_session("vendor6", "hmi-screen");
  const nlohmann::json json = to_json(session);
  CHECK(json.at("id") == "s-42");
  CHECK(json.at("number") == 42);
  CHECK(json.at("state") == "closed");
  CHECK(json.at("peer_addresses") == nlohmann::json{"198.19.0.3", "2001:db8:99::3"});
  CHECK(json.at("target_addresses") == nlohmann::json{"192.0.2.20", "2001:db8:1::20"});
  CHECK(json.at("services") == nlohmann::json{"tcp/80", "tcp/443", "tcp/5900"});
  CHECK(json.at("opened_by").at("user") == "alice");
  CHECK(json.at("bytes_from_target") == 20971520);
}

TEST_CASE("every state has a name that reads back") {
  for (State state : {State::Open, State::Closed, State::Expired, State::Ended}) {
    CHECK(state_from_name(state_name(state)) == state);
  }
  CHECK(state_name(State::Expired) == "expired");
  CHECK_FALSE(state_from_name("Open"));
  CHECK_FALSE(state_from_name(""));
}

TEST_CASE("a malformed stored session throws instead of reading as something else") {
  const nlohmann::json good = to_json(full_session("vendor", "hmi-screen"));
  auto broken = [&](const char* key, const nlohmann::json& value) {
    nlohmann::json json = good;
    if (value.is_discarded()) {
      json.erase(key);
    } else {
      json[key] = value;
    }
    return json;
  };
  const nlohmann::json removed = nlohmann::json(nlohmann::json::value_t::discarded);
  CHECK_NOTHROW(session_from_json(good));
  CHECK_THROWS(session_from_json(broken("number", removed)));
  CHECK_THROWS(session_from_json(broken("deadline_ms", removed)));
  CHECK_THROWS(session_from_json(broken("state", "paused")));
  CHECK_THROWS(session_from_json(broken("peer_addresses", nlohmann::json{"198.19.0.300"})));
  CHECK_THROWS(session_from_json(broken("services", nlohmann::json{"tcp/99999"})));
  CHECK_THROWS(session_from_json(broken("services", nlohmann::json{"sctp/1"})));
  CHECK_THROWS(session_from_json(broken("number", "42")));
  CHECK_THROWS(session_from_json(broken("opened_by", nlohmann::json::object())));
}

TEST_CASE("session ids: s-N or N, N from 1 to 2^32-1") {
  CHECK(parse_session_id("s-7") == 7u);
  CHECK(parse_session_id("7") == 7u);
  CHECK(parse_session_id("s-4294967295") == 4294967295u);
  CHECK(parse_session_id("s-1") == 1u);
  CHECK_FALSE(parse_session_id("s-0"));
  CHECK_FALSE(parse_session_id("0"));
  CHECK_FALSE(parse_session_id("s-"));
  CHECK_FALSE(parse_session_id(""));
  CHECK_FALSE(parse_session_id("x"));
  CHECK_FALSE(parse_session_id("s-x"));
  CHECK_FALSE(parse_session_id("s-7x"));
  CHECK_FALSE(parse_session_id("s-99999999999"));
  CHECK_FALSE(parse_session_id("s-4294967296"));
  CHECK_FALSE(parse_session_id("s--7"));
  CHECK_FALSE(parse_session_id("-7"));
  CHECK_FALSE(parse_session_id("+7"));
  CHECK_FALSE(parse_session_id(" 7"));
  CHECK_FALSE(parse_session_id("S-7"));
  CHECK_FALSE(parse_session_id("s-s-7"));
  CHECK_FALSE(parse_session_id("s7"));
  CHECK_FALSE(parse_session_id("s_7"));
  CHECK_FALSE(parse_session_id("7-s"));
}

TEST_CASE("an id names its number; remaining time only while open") {
  Session session;
  session.number = 7;
  CHECK(session.id() == "s-7");
  CHECK(parse_session_id(session.id()) == 7u);
  session.deadline_ms = 10000;
  CHECK(session.remaining_ms(4000) == 6000);
  CHECK(session.remaining_ms(10000) == 0);
  CHECK(session.remaining_ms(12000) == 0);
  session.state = State::Closed;
  CHECK(session.remaining_ms(4000) == 0);
}
