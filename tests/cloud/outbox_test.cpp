#include "daemon/cloud/outbox.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"

using namespace sekisho::cloud;

namespace {

constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

// A fresh directory under /tmp, removed afterwards.
struct TempDir {
  std::filesystem::path dir;
  TempDir() {
    char name[] = "/tmp/sekisho-outbox-XXXXXX";
    const char* made = ::mkdtemp(name);
    REQUIRE(made != nullptr);
    dir = made;
  }
  ~TempDir() { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

std::vector<StoredMessage> all_rows(Outbox& outbox) {
  std::vector<StoredMessage> rows;
  REQUIRE_FALSE(outbox.read_after(0, kAll, rows));
  return rows;
}

std::vector<std::int64_t> ids_of(const std::vector<StoredMessage>& rows) {
  std::vector<std::int64_t> ids;
  ids.reserve(rows.size());
  for (const StoredMessage& row : rows) {
    ids.push_back(row.id);
  }
  return ids;
}

std::vector<std::string> payloads_of(const std::vector<StoredMessage>& rows) {
  std::vector<std::string> payloads;
  payloads.reserve(rows.size());
  for (const StoredMessage& row : rows) {
    payloads.push_back(row.payload);
  }
  return payloads;
}

// The invariant, and the in-memory counters against the rows themselves.
void check_counters(Outbox& outbox) {
  const OutboxCounters& counters = outbox.counters();
  INFO("received " << counters.received << " forwarded " << counters.forwarded << " stored "
                   << counters.stored << " dropped_full " << counters.dropped_full
                   << " dropped_too_large " << counters.dropped_too_large);
  CHECK(counters.received == counters.forwarded + counters.stored + counters.dropped());
  const std::vector<StoredMessage> rows = all_rows(outbox);
  CHECK(rows.size() == counters.stored);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    bytes += rows[i].topic.size() + rows[i].payload.size();
    if (i > 0) {
      CHECK(rows[i].id > rows[i - 1].id);
    }
  }
  CHECK(bytes == counters.stored_bytes);
  if (rows.empty()) {
    CHECK_FALSE(counters.oldest_received_ms.has_value());
  } else {
    REQUIRE(counters.oldest_received_ms.has_value());
    CHECK(*counters.oldest_received_ms == rows.front().received_ms);
  }
}

void check_same(const OutboxCounters& a, const OutboxCounters& b) {
  CHECK(a.received == b.received);
  CHECK(a.forwarded == b.forwarded);
  CHECK(a.dropped_full == b.dropped_full);
  CHECK(a.dropped_too_large == b.dropped_too_large);
  CHECK(a.stored == b.stored);
  CHECK(a.stored_bytes == b.stored_bytes);
  CHECK(a.oldest_received_ms == b.oldest_received_ms);
}

void check_same(const std::vector<StoredMessage>& a, const std::vector<StoredMessage>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].id == b[i].id);
    CHECK(a[i].topic == b[i].topic);
    CHECK(a[i].payload == b[i].payload);
    CHECK(a[i].received_ms == b[i].received_ms);
  }
}

// What an outbox holds, in memory and in rows.
struct Snapshot {
  OutboxCounters counters;
  std::vector<StoredMessage> rows;
};

Snapshot snapshot(Outbox& outbox) {
  return {outbox.counters(), all_rows(outbox)};
}

void check_same(const Snapshot& a, const Snapshot& b) {
  check_same(a.counters, b.counters);
  check_same(a.rows, b.rows);
}

// Opens `path` afresh and checks that it holds what `expected` held.
void check_reopened(const std::string& path, const Snapshot& expected) {
  Outbox reopened;
  REQUIRE_FALSE(reopened.open(path));
  check_counters(reopened);
  check_same(snapshot(reopened), expected);
}

CommitResult commit(Outbox& outbox, const OutboxBatch& batch) {
  CommitResult result;
  const std::error_code error = outbox.commit(batch, result);
  INFO(error.message());
  REQUIRE_FALSE(error);
  check_counters(outbox);
  return result;
}

OutboxBatch appending(std::vector<Message> messages, std::int64_t received_ms = 1000) {
  OutboxBatch batch;
  batch.append = std::move(messages);
  batch.received_ms = received_ms;
  return batch;
}

// `count` messages of 10 bytes each ("t/1" + 7 bytes), payloads numbered from `first`.
std::vector<Message> ten_byte_messages(int first, int count) {
  std::vector<Message> messages;
  for (int i = first; i < first + count; ++i) {
    std::string payload = "p" + std::to_string(i);
    payload.resize(7, '.');
    messages.push_back({"t/1", payload});
  }
  return messages;
}

std::vector<std::string> ten_byte_payloads(int first, int count) {
  std::vector<std::string> payloads;
  for (const Message& message : ten_byte_messages(first, count)) {
    payloads.push_back(message.payload);
  }
  return payloads;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> file_names(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Runs SQL on a connection of its own, as someone with the sqlite3 CLI would.
void sql_on_the_side(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  const int result = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  INFO(sql << ": " << message);
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(result == SQLITE_OK);
}

// sqlite calls this for every connection opened in the process while registered: the
// way to look at the outbox's own connection without a public accessor.
sqlite3* last_connection = nullptr;
int remember_connection(sqlite3* db, const char**, const sqlite3_api_routines*) {
  last_connection = db;
  return SQLITE_OK;
}

std::int64_t pragma_value(sqlite3* db, const char* sql) {
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  const std::int64_t value = sqlite3_column_int64(statement, 0);
  sqlite3_finalize(statement);
  return value;
}

}  // namespace

TEST_CASE("append, read and acknowledge: a round trip whose counters add up at every step") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  CHECK(outbox.is_open());
  check_counters(outbox);
  CHECK(outbox.counters().received == 0);

  CommitResult result = commit(
      outbox, appending({{"plant/a", "one"}, {"plant/b", "two"}, {"plant/a", "three"}}, 1000));
  CHECK(result.stored == 3);
  CHECK(result.rejected == 0);
  std::vector<StoredMessage> rows = all_rows(outbox);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].topic == "plant/a");
  CHECK(payloads_of(rows) == std::vector<std::string>{"one", "two", "three"});
  CHECK(rows[1].topic == "plant/b");
  CHECK(rows[2].received_ms == 1000);
  CHECK(outbox.counters().received == 3);
  CHECK(outbox.counters().stored_bytes == 7 + 3 + 7 + 3 + 7 + 5);
  CHECK(outbox.counters().oldest_received_ms == 1000);

  std::vector<StoredMessage> after;
  REQUIRE_FALSE(outbox.read_after(rows[0].id, 1, after));
  REQUIRE(after.size() == 1);
  CHECK(after[0].payload == "two");
  REQUIRE_FALSE(outbox.read_after(rows[2].id, 10, after));
  CHECK(after.empty());

  // The first two are acknowledged while a fourth arrives later.
  OutboxBatch batch = appending({{"plant/c", "four"}}, 2000);
  batch.acked = {rows[0].id, rows[1].id};
  batch.read_through = rows[2].id;
  result = commit(outbox, batch);
  CHECK(result.forwarded == 2);
  CHECK(result.stored == 1);
  CHECK(outbox.counters().forwarded == 2);
  CHECK(outbox.counters().stored == 2);
  CHECK(outbox.counters().oldest_received_ms == 1000);  // "three" is still there
  check_reopened(path, snapshot(outbox));

  OutboxBatch ack_three;
  ack_three.acked = {rows[2].id};
  commit(outbox, ack_three);
  CHECK(outbox.counters().oldest_received_ms == 2000);
  const std::vector<StoredMessage> left = all_rows(outbox);
  REQUIRE(left.size() == 1);
  CHECK(left[0].payload == "four");

  OutboxBatch ack_four;
  ack_four.acked = {left[0].id};
  commit(outbox, ack_four);
  CHECK(outbox.counters().stored == 0);
  CHECK(outbox.counters().forwarded == 4);
  CHECK_FALSE(outbox.counters().oldest_received_ms.has_value());
  check_reopened(path, snapshot(outbox));

  // An empty batch is no transaction at all and changes nothing.
  const Snapshot before = snapshot(outbox);
  result = commit(outbox, OutboxBatch{});
  CHECK(result.stored == 0);
  check_same(snapshot(outbox), before);
}

TEST_CASE("ids keep increasing after the newest rows are deleted and the file reopened") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  std::int64_t newest_seen = 0;
  {
    Outbox outbox;
    REQUIRE_FALSE(outbox.open(path));
    commit(outbox, appending(ten_byte_messages(0, 5)));
    const std::vector<StoredMessage> rows = all_rows(outbox);
    REQUIRE(rows.size() == 5);
    newest_seen = rows.back().id;
    OutboxBatch ack;
    ack.acked = {rows[3].id, rows[4].id};  // the two newest
    commit(outbox, ack);
  }
  {
    Outbox outbox;
    REQUIRE_FALSE(outbox.open(path));
    check_counters(outbox);
    commit(outbox, appending(ten_byte_messages(5, 1)));
    const std::vector<StoredMessage> rows = all_rows(outbox);
    REQUIRE(rows.size() == 4);
    CHECK(rows.back().id > newest_seen);
    newest_seen = rows.back().id;
    // Now everything: an emptied table.
    OutboxBatch ack;
    ack.acked = ids_of(rows);
    commit(outbox, ack);
    CHECK(outbox.counters().stored == 0);
  }
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  commit(outbox, appending(ten_byte_messages(6, 2)));
  const std::vector<StoredMessage> rows = all_rows(outbox);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id > newest_seen);
  CHECK(rows[1].id > rows[0].id);
  // A sender that read through `newest_seen` finds the new rows.
  std::vector<StoredMessage> unread;
  REQUIRE_FALSE(outbox.read_after(newest_seen, 10, unread));
  CHECK(unread.size() == 2);
}

TEST_CASE("topics and payloads are bytes: NUL, every byte value, and empty survive reopening") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  std::string every_byte;
  for (int value = 0; value < 256; ++value) {
    every_byte.push_back(static_cast<char>(value));
  }
  const std::string with_nul("a\0b\0\0c", 6);
  const std::string topic_with_nul("plant\0/x", 8);
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  commit(outbox, appending({{"plant/raw", every_byte},
                            {topic_with_nul, with_nul},
                            {"plant/empty", ""},
                            {"plant/high", "\xff\xfe\x80"}}));
  CHECK(outbox.counters().stored_bytes ==
        9 + 256 + topic_with_nul.size() + with_nul.size() + 11 + 10 + 3);
  const Snapshot written = snapshot(outbox);
  REQUIRE(written.rows.size() == 4);
  CHECK(written.rows[0].payload == every_byte);
  CHECK(written.rows[1].topic == topic_with_nul);
  CHECK(written.rows[1].payload == with_nul);
  CHECK(written.rows[2].payload.empty());
  CHECK(written.rows[3].payload == "\xff\xfe\x80");
  check_reopened(path, written);
}

TEST_CASE("a repeated acknowledgement counts once, an unknown id not at all") {
  TempDir temp;
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(temp.file("outbox.db")));
  commit(outbox, appending(ten_byte_messages(0, 3)));
  const std::vector<StoredMessage> rows = all_rows(outbox);

  OutboxBatch twice;
  twice.acked = {rows[0].id, rows[0].id};
  CHECK(commit(outbox, twice).forwarded == 1);
  CHECK(outbox.counters().forwarded == 1);

  OutboxBatch again;
  again.acked = {rows[0].id, rows.back().id + 100, -1};
  CHECK(commit(outbox, again).forwarded == 0);
  CHECK(outbox.counters().forwarded == 1);
  CHECK(outbox.counters().stored == 2);
}

TEST_CASE("drop-oldest evicts exactly the oldest unread rows and never a row already read") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  outbox.set_limits({100, OnFull::DropOldest});  // room for ten 10-byte messages
  commit(outbox, appending(ten_byte_messages(0, 10)));
  const std::vector<std::int64_t> ids = ids_of(all_rows(outbox));
  REQUIRE(ids.size() == 10);

  SUBCASE("the rows after read_through go first, oldest first") {
    OutboxBatch batch = appending(ten_byte_messages(10, 2));
    batch.read_through = ids[2];  // 0, 1, 2 are in flight
    const CommitResult result = commit(outbox, batch);
    CHECK(result.evicted == 2);
    CHECK(result.stored == 2);
    CHECK(result.rejected == 0);
    std::vector<std::string> expected = ten_byte_payloads(0, 3);
    for (const std::string& payload : ten_byte_payloads(5, 7)) {
      expected.push_back(payload);
    }
    CHECK(payloads_of(all_rows(outbox)) == expected);
    CHECK(outbox.counters().dropped_full == 2);
    CHECK(outbox.counters().stored_bytes == 100);

    // Everything read: nothing may be evicted, the new message is rejected.
    OutboxBatch all_read = appending(ten_byte_messages(12, 1));
    all_read.read_through = all_rows(outbox).back().id;
    const CommitResult rejected = commit(outbox, all_read);
    CHECK(rejected.rejected == 1);
    CHECK(rejected.evicted == 0);
    CHECK(payloads_of(all_rows(outbox)) == expected);
    CHECK(outbox.counters().dropped_full == 3);

    // Acknowledgements in the same batch come first and make room.
    OutboxBatch acked = appending(ten_byte_messages(13, 3));
    acked.acked = {ids[0], ids[1], ids[2]};
    acked.read_through = all_rows(outbox).back().id;
    const CommitResult made_room = commit(outbox, acked);
    CHECK(made_room.forwarded == 3);
    CHECK(made_room.stored == 3);
    CHECK(made_room.evicted == 0);
    CHECK(made_room.rejected == 0);
    check_reopened(path, snapshot(outbox));
  }

  SUBCASE("no eviction when evicting every unread row would still not make room") {
    outbox.set_limits({95, OnFull::DropOldest});  // 100 stored: over the limit already
    OutboxBatch batch = appending({{"t/1", std::string(20, 'x')}});
    batch.read_through = ids[8];  // 90 bytes pinned, 10 unread
    const Snapshot before = snapshot(outbox);
    const CommitResult result = commit(outbox, batch);
    CHECK(result.rejected == 1);
    CHECK(result.evicted == 0);
    check_same(all_rows(outbox), before.rows);
    CHECK(outbox.counters().dropped_full == 1);
  }

  SUBCASE("a message of exactly max_bytes evicts every unread row and fits") {
    OutboxBatch batch = appending({{"t/1", std::string(97, 'x')}});
    const CommitResult result = commit(outbox, batch);
    CHECK(result.evicted == 10);
    CHECK(result.stored == 1);
    CHECK(outbox.counters().stored_bytes == 100);
  }

  SUBCASE("one batch larger than the limit keeps its newest messages") {
    outbox.set_limits({50, OnFull::DropOldest});
    OutboxBatch ack = appending(ten_byte_messages(10, 15));
    ack.acked = ids;
    const CommitResult result = commit(outbox, ack);
    CHECK(result.forwarded == 10);
    CHECK(result.evicted == 10);  // ten of the batch's own
    CHECK(result.stored == 5);
    CHECK(result.stored + result.rejected + result.evicted == 15);
    CHECK(payloads_of(all_rows(outbox)) == ten_byte_payloads(20, 5));
    CHECK(outbox.counters().dropped_full == 10);
  }
}

TEST_CASE("reject-new keeps what is stored and drops the new message") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  outbox.set_limits({100, OnFull::RejectNew});
  const CommitResult result = commit(outbox, appending(ten_byte_messages(0, 12)));
  CHECK(result.stored == 10);
  CHECK(result.rejected == 2);
  CHECK(result.evicted == 0);
  CHECK(payloads_of(all_rows(outbox)) == ten_byte_payloads(0, 10));
  CHECK(outbox.counters().dropped_full == 2);
  CHECK(outbox.counters().received == 12);

  // A smaller message that still fits is taken.
  outbox.set_limits({104, OnFull::RejectNew});
  const CommitResult small = commit(outbox, appending({{"t", "abc"}, {"t", "abcd"}}));
  CHECK(small.stored == 1);
  CHECK(small.rejected == 1);
  CHECK(outbox.counters().stored_bytes == 104);
  check_reopened(path, snapshot(outbox));
}

TEST_CASE("a message larger than max_bytes is rejected under both rules and evicts nothing") {
  for (const OnFull rule : {OnFull::DropOldest, OnFull::RejectNew}) {
    CAPTURE(static_cast<int>(rule));
    TempDir temp;
    Outbox outbox;
    REQUIRE_FALSE(outbox.open(temp.file("outbox.db")));
    outbox.set_limits({100, rule});
    commit(outbox, appending(ten_byte_messages(0, 3)));
    const Snapshot before = snapshot(outbox);
    const CommitResult result = commit(outbox, appending({{"t/1", std::string(98, 'x')}}));
    CHECK(result.rejected == 1);
    CHECK(result.evicted == 0);
    CHECK(result.stored == 0);
    check_same(all_rows(outbox), before.rows);
    CHECK(outbox.counters().dropped_full == 1);
    CHECK(outbox.counters().received == 4);
  }
}

TEST_CASE("messages dropped for their size count as received and dropped_too_large") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  OutboxBatch batch;
  batch.too_large = 4;
  commit(outbox, batch);
  OutboxBatch mixed = appending(ten_byte_messages(0, 2));
  mixed.too_large = 1;
  commit(outbox, mixed);
  CHECK(outbox.counters().received == 7);
  CHECK(outbox.counters().dropped_too_large == 5);
  CHECK(outbox.counters().dropped_full == 0);
  CHECK(outbox.counters().stored == 2);
  check_reopened(path, snapshot(outbox));
}

TEST_CASE("a commit that fails changes nothing, in memory or on disk") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  outbox.set_limits({200, OnFull::DropOldest});
  commit(outbox, appending(ten_byte_messages(0, 18), 1000));
  const std::vector<std::int64_t> ids = ids_of(all_rows(outbox));
  const Snapshot before = snapshot(outbox);

  // Acknowledgements, a too_large, and appends that evict: every step writes something
  // before the failure.
  OutboxBatch batch = appending(ten_byte_messages(18, 3), 2000);
  batch.acked = {ids[0], ids[1]};
  batch.too_large = 1;
  batch.append.insert(batch.append.begin() + 1, Message{"t/1", "poison!"});
  batch.append.push_back({"t/2", std::string(60, 'e')});

  SUBCASE("another connection holds the write lock") {
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    CommitResult result;
    result.stored = 99;
    const std::error_code error = outbox.commit(batch, result);
    CHECK(error);
    CHECK(result.stored == 0);
    check_same(snapshot(outbox), before);
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
    check_reopened(path, before);
  }

  SUBCASE("a statement fails in the middle of the transaction") {
    sql_on_the_side(path,
                    "CREATE TRIGGER poison BEFORE INSERT ON messages "
                    "WHEN NEW.payload = CAST('poison!' AS BLOB) "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
    CommitResult result;
    const std::error_code error = outbox.commit(batch, result);
    INFO(error.message());
    CHECK(error);
    check_same(snapshot(outbox), before);
    check_reopened(path, before);
    sql_on_the_side(path, "DROP TRIGGER poison");
  }

  SUBCASE("the file may not grow (RLIMIT_FSIZE): the write fails inside COMMIT") {
    // Over a megabyte in one transaction against a 256 KiB limit: the WAL cannot take it
    // wherever it starts writing.
    for (int i = 0; i < 8; ++i) {
      batch.append.push_back(
          {"t/big", std::string(std::size_t{128} * 1024, static_cast<char>('a' + i))});
    }
    outbox.set_limits({});
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    rlimit small = saved;
    small.rlim_cur = rlim_t{256} * 1024;
    const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    CommitResult result;
    const std::error_code error = outbox.commit(batch, result);
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::signal(SIGXFSZ, old_handler);
    INFO(error.message());
    CHECK(error);
    check_same(snapshot(outbox), before);
    check_reopened(path, before);
  }

  // The connection is usable afterwards: the same batch, without its poison, commits.
  if (batch.append.size() > 1 && batch.append[1].payload == "poison!") {
    batch.append.erase(batch.append.begin() + 1);
  }
  const CommitResult result = commit(outbox, batch);
  CHECK(result.forwarded == 2);
  CHECK(outbox.counters().forwarded == 2);
  CHECK(outbox.counters().dropped_too_large == 1);
  check_reopened(path, snapshot(outbox));
}

TEST_CASE("a file that is not an outbox is refused and left exactly as it was") {
  TempDir temp;
  const std::string path = temp.file("not-an-outbox.db");
  // Not a byte changed, and no file added beside it (a -wal, a -shm).
  const auto check_refused = [&path, &temp]() {
    const std::string before = file_bytes(path);
    REQUIRE_FALSE(before.empty());
    const std::vector<std::string> files_before = file_names(temp.dir);
    Outbox outbox;
    const std::error_code error = outbox.open(path);
    INFO(error.message());
    CHECK(error);
    CHECK_FALSE(outbox.is_open());
    CHECK(file_bytes(path) == before);
    CHECK(file_names(temp.dir) == files_before);
  };

  SUBCASE("the audit log") {
    {
      sekisho::audit::AuditLog log;
      REQUIRE_FALSE(log.open(path));
      REQUIRE_FALSE(log.append("2026-11-25T10:00:00Z", {0, "root", "admin"}, "policy.apply",
                               {{"source", "p.yaml"}}));
    }
    check_refused();
    sekisho::audit::AuditLog log;
    REQUIRE_FALSE(log.open(path));
    CHECK(log.records(0, "", 10).size() == 1);
  }

  SUBCASE("random bytes") {
    std::mt19937 random(42);
    std::string noise(8192, '\0');
    for (char& byte : noise) {
      byte = static_cast<char>(random());
    }
    std::ofstream(path, std::ios::binary) << noise;
    check_refused();
  }

  SUBCASE("another program's sqlite file, in rollback-journal mode") {
    sql_on_the_side(path, "CREATE TABLE messages (x); INSERT INTO messages VALUES (1);");
    check_refused();  // not even switched to WAL
  }

  SUBCASE("an outbox of a later format") {
    {
      Outbox outbox;
      REQUIRE_FALSE(outbox.open(path));
      commit(outbox, appending(ten_byte_messages(0, 2)));
    }
    sql_on_the_side(path, "PRAGMA user_version = 2");
    check_refused();
  }

  SUBCASE("a corrupt outbox") {
    {
      Outbox outbox;
      REQUIRE_FALSE(outbox.open(path));
      for (int i = 0; i < 20; ++i) {
        commit(outbox, appending({{"t/1", std::string(3000, static_cast<char>('a' + i))}}));
      }
    }  // closed: the WAL is checkpointed into the file and removed
    REQUIRE_FALSE(std::filesystem::exists(path + "-wal"));
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(std::streamoff{2} * 4096);
    const std::string garbage(std::size_t{6} * 4096, '\xaa');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    file.close();
    check_refused();
  }

  SUBCASE("an outbox with a page that nothing owns: only the integrity check sees it") {
    {
      Outbox outbox;
      REQUIRE_FALSE(outbox.open(path));
      commit(outbox, appending({{"t/1", std::string(3000, 'a')}}));
    }
    // One more page of zeros, counted in the header's page count (bytes 28..31, big
    // endian): every row still reads back, but no b-tree and no freelist holds the page.
    std::string bytes = file_bytes(path);
    REQUIRE(bytes.size() > 100);
    const std::size_t page_size =
        (static_cast<unsigned char>(bytes[16]) << 8) | static_cast<unsigned char>(bytes[17]);
    REQUIRE(page_size >= 512);
    std::uint32_t pages = 0;
    for (int i = 28; i < 32; ++i) {
      pages = (pages << 8) | static_cast<unsigned char>(bytes[i]);
    }
    REQUIRE(pages * page_size == bytes.size());
    ++pages;
    for (int i = 31; i >= 28; --i) {
      bytes[i] = static_cast<char>(pages & 0xff);
      pages >>= 8;
    }
    bytes.append(page_size, '\0');
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    check_refused();
  }
}

TEST_CASE("an empty file, or a sqlite file with nothing in it, becomes an outbox") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  SUBCASE("zero bytes") {
    std::ofstream(path, std::ios::binary).flush();
  }
  SUBCASE("an empty sqlite database") {
    sql_on_the_side(path, "CREATE TABLE x (a); DROP TABLE x;");
  }
  Outbox outbox;
  REQUIRE_FALSE(outbox.open(path));
  commit(outbox, appending(ten_byte_messages(0, 1)));
  check_reopened(path, snapshot(outbox));
}

TEST_CASE("a path with URI characters in it (?, #, %, space) opens and reopens") {
  TempDir temp;
  const std::string path = temp.file("out box?mode=ro#x%41.db");
  {
    Outbox outbox;
    REQUIRE_FALSE(outbox.open(path));
    commit(outbox, appending(ten_byte_messages(0, 3)));
  }
  REQUIRE(std::filesystem::exists(path));
  REQUIRE_FALSE(std::filesystem::exists(path + "-wal"));  // the immutable look
  Outbox outbox;
  const std::error_code error = outbox.open(path);
  INFO(error.message());
  REQUIRE_FALSE(error);
  CHECK(payloads_of(all_rows(outbox)) == ten_byte_payloads(0, 3));
  CHECK(file_names(temp.dir).size() == 3);  // the file, its -wal and -shm: nothing else
}

TEST_CASE("the file is 0600, in WAL mode, and the outbox's connection syncs FULL") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  REQUIRE(sqlite3_auto_extension(reinterpret_cast<void (*)()>(&remember_connection)) == SQLITE_OK);
  last_connection = nullptr;
  Outbox outbox;
  const std::error_code error = outbox.open(path);
  sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(&remember_connection));
  REQUIRE_FALSE(error);
  REQUIRE(last_connection != nullptr);
  CHECK(pragma_value(last_connection, "PRAGMA synchronous") == 2);  // FULL
  commit(outbox, appending(ten_byte_messages(0, 1)));

  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  CHECK((status.st_mode & 0777) == 0600);
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(other, "PRAGMA journal_mode", -1, &statement, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))) == "wal");
  sqlite3_finalize(statement);
  sqlite3_close(other);
}

TEST_CASE("counters edited by hand: the rows win and the invariant holds again") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  {
    Outbox outbox;
    REQUIRE_FALSE(outbox.open(path));
    commit(outbox, appending(ten_byte_messages(0, 5)));
    OutboxBatch ack;
    ack.acked = {all_rows(outbox)[0].id};
    ack.too_large = 2;
    commit(outbox, ack);
  }
  sql_on_the_side(path,
                  "UPDATE counters SET stored_bytes = 12345, received = received + 7;"
                  "DELETE FROM messages WHERE id = (SELECT max(id) FROM messages);");
  {
    Outbox outbox;
    REQUIRE_FALSE(outbox.open(path));
    check_counters(outbox);
    CHECK(outbox.counters().stored == 3);
    CHECK(outbox.counters().stored_bytes == 30);
    CHECK(outbox.counters().forwarded == 1);
    CHECK(outbox.counters().dropped_too_large == 2);
    CHECK(outbox.counters().received == 1 + 3 + 2);
  }
  // Written back: a plain reader of the file sees it repaired too.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  CHECK(pragma_value(db, "SELECT stored_bytes FROM counters") == 30);
  CHECK(pragma_value(db, "SELECT received FROM counters") == 6);
  sqlite3_close(db);
}

namespace {

// The crash test's payload: the message's sequence number and its batch's, then filler.
std::string numbered_payload(std::uint64_t seq, std::uint64_t batch, std::size_t filler) {
  std::string payload(16, '\0');
  std::memcpy(payload.data(), &seq, 8);
  std::memcpy(payload.data() + 8, &batch, 8);
  payload.append(filler, '\0');
  return payload;
}

void numbers_of(const std::string& payload, std::uint64_t& seq, std::uint64_t& batch) {
  REQUIRE(payload.size() >= 16);
  std::memcpy(&seq, payload.data(), 8);
  std::memcpy(&batch, payload.data() + 8, 8);
}

// The child: a sender and a receiver at full speed. Every batch acknowledges what it read
// (the oldest rows), counts one message as too large, and appends numbered messages; the
// 64 KiB limit makes drop-oldest evict. So the rows are always a contiguous run of the
// numbers ending with the newest appended, and the batches are numbered by
// dropped_too_large. Never returns.
[[noreturn]] void commit_until_killed(const std::string& path) {
  Outbox outbox;
  if (outbox.open(path)) {
    ::_exit(2);
  }
  outbox.set_limits({std::uint64_t{64} * 1024, OnFull::DropOldest});
  std::uint64_t batch_number = outbox.counters().dropped_too_large;
  std::uint64_t seq = outbox.counters().received - batch_number;
  std::mt19937 random(static_cast<unsigned>(::getpid()));
  for (;;) {
    OutboxBatch batch;
    batch.received_ms = static_cast<std::int64_t>(batch_number);
    batch.too_large = 1;
    std::vector<StoredMessage> read;
    if (outbox.read_after(0, random() % 5, read)) {
      ::_exit(3);
    }
    for (const StoredMessage& row : read) {
      batch.acked.push_back(row.id);
      batch.read_through = row.id;
    }
    const unsigned count = 1 + random() % 30;
    for (unsigned i = 0; i < count; ++i) {
      batch.append.push_back({"plant/line" + std::to_string(i % 4),
                              numbered_payload(seq++, batch_number, random() % 2000)});
    }
    CommitResult result;
    if (outbox.commit(batch, result)) {
      ::_exit(4);
    }
    ++batch_number;
  }
}

}  // namespace

TEST_CASE("killed at a random moment: the rows are a contiguous run ending with the newest") {
  TempDir temp;
  const std::string path = temp.file("outbox.db");
  std::random_device device;
  const unsigned seed = device();
  INFO("seed " << seed);
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> delay_us(20'000, 250'000);
  std::uint64_t appended = 0;
  for (int round = 0; round < 6; ++round) {
    CAPTURE(round);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      commit_until_killed(path);
    }
    ::usleep(static_cast<useconds_t>(delay_us(random)));
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("child status " << status);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);

    Outbox outbox;
    const std::error_code error = outbox.open(path);
    INFO(error.message());
    REQUIRE_FALSE(error);
    check_counters(outbox);
    const OutboxCounters& counters = outbox.counters();
    CHECK(counters.received - counters.dropped_too_large >= appended);
    appended = counters.received - counters.dropped_too_large;
    const std::vector<StoredMessage> rows = all_rows(outbox);
    CHECK(rows.size() <= appended);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::uint64_t seq = 0;
      std::uint64_t batch = 0;
      numbers_of(rows[i].payload, seq, batch);
      CHECK(seq == appended - rows.size() + i);
      CHECK(rows[i].received_ms == static_cast<std::int64_t>(batch));
      if (i + 1 == rows.size()) {
        CHECK(batch + 1 == counters.dropped_too_large);  // the last batch committed
      }
    }
  }
  MESSAGE("messages appended across the kills: " << appended);
  CHECK(appended > 0);
}
