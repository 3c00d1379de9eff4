// The session store (sessions.db) in a temporary directory: sessions read back as saved,
// open ones apart, numbers never reused, flows inserted once and then updated.
#include "daemon/sessions/store.hpp"

#include <filesystem>
#include <ostream>  // doctest prints std::error_code through it

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/sessions/session_fixture.hpp"

using namespace sekisho;
using namespace sekisho::sessions;
using sekisho::sessions::testing::grant_of;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char name[] = "/tmp/sekisho-sessions-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string db() const { return (path / "sessions.db").string(); }
};

// A new store in a directory of its own.
struct NewStore {
  TempDir dir;
  Store store;
  NewStore() { REQUIRE_FALSE(store.open(dir.db())); }
};

Session session_number(std::uint32_t number, State state = State::Open) {
  Session session;
  session.number = number;
  session.grant = grant_of("vendor", number % 2 ? "hmi-screen" : "plc-program");
  session.opened_by = {1001, "alice", "operator"};
  session.opened_ms = 1767225600000 + number;
  session.deadline_ms = session.opened_ms + 3600000;
  session.reason = "visit " + std::to_string(number);
  session.state = state;
  return session;
}

std::vector<std::uint32_t> numbers_of(const std::vector<Session>& sessions) {
  std::vector<std::uint32_t> out;
  for (const Session& session : sessions) {
    out.push_back(session.number);
  }
  return out;
}

FlowRecord flow(std::uint32_t id, std::int64_t started_ms, std::uint16_t source_port = 40000) {
  FlowRecord record;
  record.conntrack_id = id;
  record.started_ms = started_ms;
  record.protocol = 6;
  record.source = "198.19.0.2";
  record.source_port = source_port;
  record.destination = "192.0.2.20";
  record.destination_port = 5900;
  return record;
}

// `record` with these counters: packets and bytes to the target, then back.
FlowRecord counted(FlowRecord record, std::uint64_t packets_to, std::uint64_t bytes_to,
                   std::uint64_t packets_from, std::uint64_t bytes_from) {
  record.packets_to_target = packets_to;
  record.bytes_to_target = bytes_to;
  record.packets_from_target = packets_from;
  record.bytes_from_target = bytes_from;
  return record;
}

void check_counters(const FlowRecord& record, std::uint64_t packets_to, std::uint64_t bytes_to,
                    std::uint64_t packets_from, std::uint64_t bytes_from) {
  CHECK(record.packets_to_target == packets_to);
  CHECK(record.bytes_to_target == bytes_to);
  CHECK(record.packets_from_target == packets_from);
  CHECK(record.bytes_from_target == bytes_from);
}

}  // namespace

TEST_CASE("a new store is empty, 0600, and numbers start at 1") {
  TempDir dir;
  Store store;
  REQUIRE_FALSE(store.open(dir.db()));
  struct stat info {};
  REQUIRE(::stat(dir.db().c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  std::vector<std::string> errors;
  CHECK(store.load(false, errors).empty());
  CHECK(errors.empty());
  CHECK(store.next_number() == 1);
  std::string error;
  CHECK_FALSE(store.find(1, error));
  CHECK(store.flows(1).empty());
}

TEST_CASE("a store that cannot be created says so") {
  TempDir dir;
  Store store;
  CHECK(store.open((dir.path / "missing" / "sessions.db").string()));
}

TEST_CASE("saved sessions read back, open ones apart, oldest first, across a reopen") {
  TempDir dir;
  {
    Store store;
    REQUIRE_FALSE(store.open(dir.db()));
    REQUIRE_FALSE(store.save(session_number(3)));
    REQUIRE_FALSE(store.save(session_number(1, State::Expired)));
    REQUIRE_FALSE(store.save(session_number(2)));
    REQUIRE_FALSE(store.save(session_number(4, State::Closed)));
  }
  Store store;
  REQUIRE_FALSE(store.open(dir.db()));
  std::vector<std::string> errors;
  CHECK(numbers_of(store.load(false, errors)) == std::vector<std::uint32_t>{1, 2, 3, 4});
  CHECK(numbers_of(store.load(true, errors)) == std::vector<std::uint32_t>{2, 3});
  CHECK(errors.empty());

  std::string error;
  std::optional<Session> found = store.find(3, error);
  REQUIRE(found);
  CHECK(error.empty());
  CHECK(found->grant == session_number(3).grant);
  CHECK(found->reason == "visit 3");
  CHECK(found->deadline_ms == session_number(3).deadline_ms);
  CHECK_FALSE(store.find(5, error));
}

TEST_CASE("saving a session again replaces it: closing takes it out of the open ones") {
  NewStore fresh;
  Store& store = fresh.store;
  Session session = session_number(1);
  REQUIRE_FALSE(store.save(session));
  session.deadline_ms += 600000;
  session.extensions = 1;
  REQUIRE_FALSE(store.save(session));
  std::vector<std::string> errors;
  std::vector<Session> open = store.load(true, errors);
  REQUIRE(open.size() == 1);
  CHECK(open[0].deadline_ms == session.deadline_ms);
  CHECK(open[0].extensions == 1);

  session.state = State::Closed;
  session.close_reason = "done";
  REQUIRE_FALSE(store.save(session));
  CHECK(store.load(true, errors).empty());
  REQUIRE(store.load(false, errors).size() == 1);
  std::string error;
  CHECK(store.find(1, error)->close_reason == "done");
}

TEST_CASE("text that is not UTF-8 is stored with U+FFFD in its place, not refused") {
  NewStore fresh;
  Store& store = fresh.store;
  Session session = session_number(1);
  session.reason = "firmware \xff\xfe update";
  session.opened_by.user = "j\xe9r\xf4me";
  REQUIRE_FALSE(store.save(session));
  std::string error;
  std::optional<Session> found = store.find(1, error);
  REQUIRE_MESSAGE(found, error);
  CHECK(found->reason == "firmware \xef\xbf\xbd\xef\xbf\xbd update");
  CHECK(found->opened_by.user == "j\xef\xbf\xbdr\xef\xbf\xbdme");
}

TEST_CASE("numbers are never reused: after the highest, whatever its state") {
  TempDir dir;
  {
    Store store;
    REQUIRE_FALSE(store.open(dir.db()));
    CHECK(store.next_number() == 1);
    REQUIRE_FALSE(store.save(session_number(store.next_number())));
    CHECK(store.next_number() == 2);
    REQUIRE_FALSE(store.save(session_number(2, State::Closed)));
    CHECK(store.next_number() == 3);
    // A gap stays a gap; the next number follows the highest one.
    REQUIRE_FALSE(store.save(session_number(9, State::Expired)));
    CHECK(store.next_number() == 10);
    // Closing every session frees no number.
    for (std::uint32_t number : {1u, 2u, 9u}) {
      Session closed = session_number(number, State::Closed);
      REQUIRE_FALSE(store.save(closed));
    }
    CHECK(store.next_number() == 10);
  }
  Store store;
  REQUIRE_FALSE(store.open(dir.db()));
  CHECK(store.next_number() == 10);
}

TEST_CASE("a stored record that cannot be read is reported and skipped") {
  TempDir dir;
  {
    Store store;
    REQUIRE_FALSE(store.open(dir.db()));
    REQUIRE_FALSE(store.save(session_number(1)));
    REQUIRE_FALSE(store.save(session_number(2)));
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.db().c_str(), &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "UPDATE sessions SET record = '{\"number\": 2}' WHERE number = 2", nullptr,
                     nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  Store store;
  REQUIRE_FALSE(store.open(dir.db()));
  std::vector<std::string> errors;
  CHECK(numbers_of(store.load(true, errors)) == std::vector<std::uint32_t>{1});
  CHECK(errors.size() == 1);
  std::string error;
  CHECK_FALSE(store.find(2, error));
  CHECK_FALSE(error.empty());
  // A damaged record still holds its number.
  CHECK(store.next_number() == 3);
}

TEST_CASE(
    "a flow is inserted once and then updated (same session, conntrack id, protocol and "
    "source)") {
  NewStore fresh;
  Store& store = fresh.store;
  FlowRecord first = flow(0xdeadbeef, 1000);
  REQUIRE_FALSE(store.save_flow(1, first));
  FlowRecord later = counted(first, 10, 1000, 20, 30000);
  REQUIRE_FALSE(store.save_flow(1, later));
  later = counted(later, 10, 1500, 20, 30000);
  later.ended_ms = 9000;
  REQUIRE_FALSE(store.save_flow(1, later));

  std::vector<FlowRecord> flows = store.flows(1);
  REQUIRE(flows.size() == 1);
  CHECK(flows[0].conntrack_id == 0xdeadbeef);
  CHECK(flows[0].started_ms == 1000);
  CHECK(flows[0].ended_ms == 9000);
  CHECK(flows[0].protocol == 6);
  CHECK(flows[0].source == "198.19.0.2");
  CHECK(flows[0].source_port == 40000);
  CHECK(flows[0].destination == "192.0.2.20");
  CHECK(flows[0].destination_port == 5900);
  check_counters(flows[0], 10, 1500, 20, 30000);

  // Another session's flow with the same conntrack id is its own record.
  REQUIRE_FALSE(store.save_flow(2, first));
  CHECK(store.flows(1).size() == 1);
  CHECK(store.flows(2).size() == 1);
  CHECK(store.flows(2)[0].bytes_to_target == 0);
  // A later flow that the kernel happens to give the same id (a hash) is a second flow.
  REQUIRE_FALSE(store.save_flow(1, flow(0xdeadbeef, 50000, 40001)));
  CHECK(store.flows(1).size() == 2);
}

TEST_CASE("flows come back in the order they started; counters up to 2^63 survive") {
  NewStore fresh;
  Store& store = fresh.store;
  REQUIRE_FALSE(store.save_flow(1, flow(3, 3000)));
  REQUIRE_FALSE(store.save_flow(1, flow(1, 1000)));
  FlowRecord big = flow(2, 2000);
  big.bytes_from_target = (1ULL << 63) - 1;
  big.protocol = 17;
  big.source = "2001:db8:99::3";
  REQUIRE_FALSE(store.save_flow(1, big));
  std::vector<FlowRecord> flows = store.flows(1);
  REQUIRE(flows.size() == 3);
  CHECK(flows[0].conntrack_id == 1);
  CHECK(flows[1].conntrack_id == 2);
  CHECK(flows[2].conntrack_id == 3);
  CHECK(flows[1].bytes_from_target == (1ULL << 63) - 1);
  CHECK(flows[1].protocol == 17);
  CHECK(flows[1].source == "2001:db8:99::3");
  CHECK(to_json(flows[1]).at("protocol") == "udp");
  CHECK(to_json(flows[0]).at("protocol") == "tcp");
}

// sekishod (service_sessions.cpp) records a flow from its conntrack NEW event with its own
// clock as the start (NEW events carry no CTA_TIMESTAMP), and again from the session-end
// dump and the DESTROY event with the kernel's start time. Those are one connection and
// must stay one record: a second one counts the flow twice and, never ended, is closed
// and audited again as a flow of its own when the session ends.
TEST_CASE(
    "one connection seen first by its NEW event, then with the kernel's start time, is "
    "one flow") {
  NewStore fresh;
  Store& store = fresh.store;
  FlowRecord from_new_event = flow(0x1234, 1767225600250);  // sekishod's clock
  REQUIRE_FALSE(store.save_flow(1, from_new_event));
  // The kernel's CTA_TIMESTAMP_START, a little earlier.
  FlowRecord from_dump = counted(flow(0x1234, 1767225600247), 5000, 7000000, 0, 0);
  REQUIRE_FALSE(store.save_flow(1, from_dump));
  FlowRecord from_destroy = counted(from_dump, 7000, 10485760, 3, 4096);
  from_destroy.ended_ms = 1767225660000;
  REQUIRE_FALSE(store.save_flow(1, from_destroy));
  std::vector<FlowRecord> flows = store.flows(1);
  REQUIRE(flows.size() == 1);
  CHECK(flows[0].started_ms == 1767225600247);  // the earliest: the kernel's
  CHECK(flows[0].ended_ms == 1767225660000);
  check_counters(flows[0], 7000, 10485760, 3, 4096);
}

TEST_CASE("what a flow record learns is never lost to an older report of the same flow") {
  NewStore fresh;
  Store& store = fresh.store;
  FlowRecord ended = counted(flow(0x99, 1000), 10, 100, 20, 200);
  ended.ended_ms = 9000;
  REQUIRE_FALSE(store.save_flow(1, ended));
  // A dump read before the DESTROY event but handled after it: smaller counters, no end,
  // a start sekishod only guessed (later than the kernel's).
  REQUIRE_FALSE(store.save_flow(1, counted(flow(0x99, 1500), 5, 50, 0, 0)));
  // No start known at all (0): the known one stays.
  REQUIRE_FALSE(store.save_flow(1, flow(0x99, 0)));
  std::vector<FlowRecord> flows = store.flows(1);
  REQUIRE(flows.size() == 1);
  CHECK(flows[0].started_ms == 1000);
  CHECK(flows[0].ended_ms == 9000);
  check_counters(flows[0], 10, 100, 20, 200);

  // A flow first stored without a start takes the first one reported.
  REQUIRE_FALSE(store.save_flow(2, flow(0x77, 0)));
  REQUIRE_FALSE(store.save_flow(2, flow(0x77, 4000)));
  REQUIRE(store.flows(2).size() == 1);
  CHECK(store.flows(2)[0].started_ms == 4000);
}

TEST_CASE("flows that differ in protocol or source are flows of their own") {
  NewStore fresh;
  Store& store = fresh.store;
  REQUIRE_FALSE(store.save_flow(1, flow(0x55, 1000)));
  FlowRecord udp = flow(0x55, 1000);
  udp.protocol = 17;
  REQUIRE_FALSE(store.save_flow(1, udp));
  FlowRecord other_source = flow(0x55, 1000);
  other_source.source = "2001:db8:99::3";
  REQUIRE_FALSE(store.save_flow(1, other_source));
  REQUIRE_FALSE(store.save_flow(1, flow(0x55, 1000, 40002)));
  CHECK(store.flows(1).size() == 4);
}
