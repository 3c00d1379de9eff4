// The time rule of `audit verify` (daemon/audit/coverage.hpp): every record signed within
// checkpoint_every + 60 s. Logs made here with chosen times, tampered with as an attacker
// with the sqlite3 CLI and no key would, and the honest ways records are signed late.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/clock.hpp"

using namespace sekisho::audit;

namespace {

constexpr std::int64_t kBase = 1795600800;  // 2026-11-25T10:00:00Z
const Actor kDaemon{0, "sekishod", "daemon"};
const Actor kAdmin{0, "root", "admin"};

std::string at(std::int64_t seconds) {
  return sekisho::utc_text(
      std::chrono::system_clock::time_point(std::chrono::seconds(kBase + seconds)));
}

// A log and a key in a fresh directory, removed afterwards.
struct Log {
  std::filesystem::path dir;
  AuditLog log;
  Signer signer;
  std::string pem;
  Log() {
    char name[] = "/tmp/sekisho-coverage-XXXXXX";
    dir = ::mkdtemp(name);
    REQUIRE_FALSE(log.open((dir / "audit.db").string()));
    REQUIRE_FALSE(signer.load_or_create((dir / "key.pem").string()));
    pem = signer.public_pem();
  }
  ~Log() { std::filesystem::remove_all(dir); }

  void record(std::int64_t seconds, const std::string& kind = "policy.apply") {
    REQUIRE_FALSE(log.append(at(seconds), kind == "daemon.start" ? kDaemon : kAdmin, kind,
                             {{"at", seconds}}));
  }
  void sign(std::int64_t seconds, bool synchronised = true, std::int64_t every = 600) {
    REQUIRE_FALSE(log.add_checkpoint(signer, at(seconds), synchronised, every));
  }
  // As sekishod runs: a record every minute from `from` to `to`, each signed within
  // checkpoint_every (600 s).
  void run(std::int64_t from, std::int64_t to) {
    for (std::int64_t t = from; t <= to; t += 60) {
      record(t);
      if ((t - from) % 300 == 240) {
        sign(t + 5);
      }
    }
  }
  // What someone with the sqlite3 CLI and no key does.
  void sql(const std::string& text) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir / "audit.db").c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int result = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &error);
    INFO(text << ": " << (error ? error : ""));
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE(result == SQLITE_OK);
  }
  // Record `seq` edited and every later hash recomputed: a chain that holds together.
  void rewrite_from(std::int64_t seq) {
    std::vector<Record> records = log.records(seq, "", 100000);
    std::string previous = records.front().previous;
    std::string text;
    for (Record& record : records) {
      if (record.seq == seq) {
        record.details["edited"] = true;
      }
      record.previous = previous;
      record.hash = record_hash(previous, canonical_json(record));
      previous = record.hash;
      text += "UPDATE records SET details = '" + record.details.dump() + "', previous = '" +
              record.previous + "', hash = '" + record.hash +
              "' WHERE seq = " + std::to_string(record.seq) + ";";
    }
    sql(text);
  }
  VerifyResult verify(std::int64_t now, bool daemon_stopped = false) {
    return log.verify(pem, {.now = kBase + now, .daemon_stopped = daemon_stopped});
  }
};

}  // namespace

TEST_CASE("a log signed in time verifies; its young unsigned tail is reported, not failed") {
  Log log;
  log.run(0, 3600);  // an hour, signed every 5 minutes: the record at 3600 s is not yet
  log.record(3630);
  log.record(3640);
  VerifyResult result = log.verify(3700);
  INFO(result.reason);
  CHECK(result.ok);
  REQUIRE(result.unsigned_from);
  CHECK(*result.unsigned_from == result.records - 2);
  CHECK(result.unsigned_records == 3);
  CHECK(result.notes.empty());
  // The same tail, once older than checkpoint_every + 60 s: a gap.
  CHECK(log.verify(3600 + 660).ok);
  result = log.verify(3600 + 661);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == result.records - 2);
  CHECK(result.reason.find("have no signed checkpoint, though 661 s old") != std::string::npos);
}

TEST_CASE("checkpoint rows deleted and the chain recomputed: found (the attack of item 6)") {
  Log log;
  log.run(0, 7200);
  const std::int64_t records = log.log.last_seq();
  // The attacker deletes every checkpoint after 30 minutes, edits a record of the second
  // hour and recomputes the chain from there: no checkpoint disagrees with it any more.
  log.sql("DELETE FROM checkpoints WHERE time > '" + at(1800) + "'");
  const std::int64_t first_unsigned = log.log.newest_checkpoint()->seq + 1;
  log.rewrite_from(90);
  CHECK(log.log.verify().ok);  // the chain alone holds
  VerifyResult result = log.verify(7300);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == first_unsigned);
  // sekishod starts again and signs what it finds: covered now, but hours late.
  log.record(7400, "daemon.start");
  log.sign(7401);
  result = log.verify(7500);
  INFO(result.reason);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == first_unsigned);
  CHECK(result.reason.find("was not signed in time") != std::string::npos);
  CHECK(records + 1 == log.log.last_seq());
}

TEST_CASE("start records inserted among old ones do not pass them off as crash tails") {
  Log log;
  log.run(0, 600);
  const std::int64_t kept = log.log.newest_checkpoint()->seq;
  // Records of two hours, no checkpoint (deleted), a daemon.start every 9 minutes among them:
  // each stretch between two starts is shorter than checkpoint_every, but the starts are
  // not signed in time either.
  for (std::int64_t t = 660; t <= 7800; t += 60) {
    log.record(t, t % 540 == 0 ? "daemon.start" : "policy.apply");
  }
  log.record(9000, "daemon.start");
  log.sign(9001);
  const VerifyResult result = log.verify(9100);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == kept + 1);
}

TEST_CASE("a crash (kill -9) leaves a tail that the next start signs: accepted, and noted") {
  Log log;
  log.run(0, 1200);
  const std::int64_t signed_through = log.log.newest_checkpoint()->seq;
  // Three records after the last checkpoint, then nothing: sekishod was killed. It comes
  // back five hours later (the box was off), writes daemon.start and signs at once.
  log.record(1230);
  log.record(1290);
  log.record(1500);
  log.record(1230 + 5 * 3600, "daemon.start");
  log.sign(1231 + 5 * 3600);
  // Before the restart, verified offline as decommission does (sekishod stopped).
  VerifyResult result = log.verify(1300 + 5 * 3600);
  INFO(result.reason);
  CHECK(result.ok);
  REQUIRE(result.notes.size() == 1);
  // (with the record of 1200 s, which was not signed yet either)
  CHECK(result.notes[0].find("records " + std::to_string(signed_through + 1) + ".." +
                             std::to_string(signed_through + 4)) == 0);
  CHECK(result.notes[0].find("sekishod had stopped without signing them") != std::string::npos);
}

TEST_CASE("a crash tail longer than checkpoint_every was a gap, not a crash") {
  Log log;
  log.run(0, 1200);
  const std::int64_t signed_through = log.log.newest_checkpoint()->seq;
  log.record(1230);
  log.record(1230 + 900);  // 15 minutes later, still unsigned: sekishod was running
  log.record(1230 + 5 * 3600, "daemon.start");
  log.sign(1231 + 5 * 3600);
  const VerifyResult result = log.verify(1300 + 5 * 3600);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == signed_through + 1);
}

TEST_CASE("a daemon found stopped: its overdue tail waits for the next start") {
  Log log;
  log.run(0, 1200);
  log.record(1230);
  CHECK_FALSE(log.verify(1230 + 3600).ok);
  const VerifyResult result = log.verify(1230 + 3600, true);
  INFO(result.reason);
  CHECK(result.ok);
  REQUIRE(result.notes.size() == 1);
  CHECK(result.notes[0].find("wait for sekishod's next start") != std::string::npos);
}

TEST_CASE("a daemon found stopped: a tail longer than checkpoint_every was a gap, not a crash") {
  // What decommission checks before it signs the tail with its own record: held to the rule
  // the next start's signature would be held to.
  Log log;
  log.run(0, 1200);
  const std::int64_t signed_through = log.log.newest_checkpoint()->seq;
  log.record(1230);
  log.record(1230 + 900);  // 15 minutes later, still unsigned: sekishod was running
  const VerifyResult result = log.verify(1230 + 5 * 3600, true);
  INFO(result.reason);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == signed_through + 1);
  CHECK(result.reason.find("span 930 s") != std::string::npos);
}

TEST_CASE("the clock set forward while records waited: accepted once, when NTP synchronised it") {
  // Signed on an unsynchronised clock (a box without a battery after boot), then the clock
  // jumps a day ahead: the records before the jump are signed a day "late".
  for (const bool synchronised_before : {false, true}) {
    Log log;
    log.record(0, "daemon.start");
    log.sign(1, synchronised_before);
    log.record(30);
    log.record(90);
    log.record(86400 + 120);  // after the jump
    log.sign(86400 + 125, true);
    const VerifyResult result = log.verify(86400 + 200);
    INFO(result.reason);
    // Only when the clock was not synchronised before and is now: a real jump.
    CHECK(result.ok == !synchronised_before);
    if (result.ok) {
      REQUIRE(result.notes.size() == 1);
      CHECK(result.notes[0].find("the clock was set in between") != std::string::npos);
    }
  }
}

TEST_CASE("a daemon found stopped after the clock was set: its tail waits as the start takes it") {
  // As above, but sekishod stopped before it signed the records around the jump: what
  // decommission accepts is what the next start's signature would be accepted with.
  for (const bool synchronised_before : {false, true}) {
    INFO("synchronised before: " << synchronised_before);
    Log log;
    log.record(0, "daemon.start");
    log.sign(1, synchronised_before);
    log.record(30);
    log.record(90);
    log.record(86400 + 120);  // after the jump; then sekishod stopped
    const VerifyResult stopped = log.verify(86400 + 200, true);
    INFO(stopped.reason);
    CHECK(stopped.ok == !synchronised_before);
    if (stopped.ok) {
      REQUIRE(stopped.notes.size() == 1);
      CHECK(stopped.notes[0].find("the clock was set in between") != std::string::npos);
    }
    log.record(86400 + 300, "daemon.start");
    log.sign(86400 + 301, true);
    const VerifyResult started = log.verify(86400 + 400);
    INFO(started.reason);
    CHECK(started.ok == stopped.ok);
  }
}

TEST_CASE("the interval checkpoints sign is the one held to; a change is honoured") {
  Log log;
  log.record(0, "daemon.start");
  log.sign(1, true, 3600);  // checkpoint_every 1h
  log.record(60);
  log.sign(60 + 3000, true, 600);  // 50 minutes later, now under 10 minutes: in time (1h)
  log.record(3100);
  log.sign(3100 + 900, true, 600);  // 15 minutes: late under 10 minutes
  const VerifyResult result = log.verify(4100);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == 3);
}

TEST_CASE("logs made before checkpoints signed their interval still verify") {
  Log log;
  // The old form: no checkpoint_every in the message or the row.
  auto legacy_sign = [&log](std::int64_t seconds, std::int64_t seq) {
    const Record record = log.log.records(seq, "", 1).at(0);
    const std::string signature =
        log.signer.sign_hex(checkpoint_json(seq, record.hash, at(seconds), true));
    log.sql("INSERT INTO checkpoints (seq, time, clock_synchronised, hash, signature) VALUES (" +
            std::to_string(seq) + ", '" + at(seconds) + "', 1, '" + record.hash + "', '" +
            signature + "')");
  };
  log.record(0);
  log.record(60);
  legacy_sign(7200, 2);  // two hours late: the old daemon made no promise to be judged by
  log.record(7300, "daemon.start");
  log.sign(7301);  // the new form from here on
  log.record(7400);
  log.sign(7405);
  VerifyResult result = log.verify(7500);
  INFO(result.reason);
  CHECK(result.ok);
  CHECK(result.notes.empty());
  // A forged signature on an old-form checkpoint is still found.
  log.sql("UPDATE checkpoints SET signature = substr(signature, 2) || '0' WHERE seq = 2");
  result = log.verify(7500);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == 1);
}

TEST_CASE("retention keeps the checkpoint of the last record removed: the start is signed") {
  Log log;
  log.run(0, 3600);
  const std::int64_t cut = log.log.records_since_checkpoint() == 0
                               ? log.log.last_seq()
                               : log.log.newest_checkpoint()->seq;
  REQUIRE_FALSE(log.log.set_exported_through(cut));
  // Everything is old enough: pruned through the newest signed record an export covers.
  const std::int64_t through = log.log.prunable_through(at(100000));
  CHECK(through == cut);
  const std::string hash = *log.log.hash_before(through + 1);
  REQUIRE_FALSE(
      log.log.append(at(3700), kDaemon, "audit.pruned", {{"through", through}, {"hash", hash}}));
  log.sign(3701);
  REQUIRE_FALSE(log.log.prune_through(through));
  VerifyResult result = log.verify(3800);
  INFO(result.reason);
  CHECK(result.ok);
  REQUIRE(log.log.last_checkpoint_before(through + 1));
  CHECK(log.log.last_checkpoint_before(through + 1)->seq == through);
  // That checkpoint must still match the start it signs.
  log.sql("UPDATE meta SET value = '" + std::string(64, 'a') + "' WHERE key = 'start_hash'");
  result = log.verify(3800);
  CHECK_FALSE(result.ok);
}

TEST_CASE("a log of the first form gets the interval column when opened, and still verifies") {
  char name[] = "/tmp/sekisho-coverage-old-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(name);
  const std::string path = (dir / "audit.db").string();
  Signer signer;
  REQUIRE_FALSE(signer.load_or_create((dir / "key.pem").string()));
  {
    // The tables as the first version made them, with one record and its checkpoint.
    Record record;
    record.seq = 1;
    record.time = at(0);
    record.actor = kDaemon;
    record.kind = "daemon.start";
    record.previous = kGenesis;
    record.hash = record_hash(kGenesis, canonical_json(record));
    const std::string signature = signer.sign_hex(checkpoint_json(1, record.hash, at(5), true));
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const std::string sql =
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL,"
        " kind TEXT NOT NULL, details TEXT NOT NULL, previous TEXT NOT NULL, hash TEXT NOT NULL);"
        "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, time TEXT NOT NULL,"
        " clock_synchronised INTEGER NOT NULL, hash TEXT NOT NULL, signature TEXT NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO records VALUES (1, '" +
        record.time +
        "', '{\"role\":\"daemon\",\"uid\":0,\"user\":\"sekishod\"}', 'daemon.start', '{}', '" +
        kGenesis + "', '" + record.hash +
        "');"
        "INSERT INTO checkpoints VALUES (1, '" +
        at(5) + "', 1, '" + record.hash + "', '" + signature + "');";
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  {
    AuditLog reader;  // read-only: the old table as it is
    REQUIRE_FALSE(reader.open_read_only(path));
    CHECK(reader.verify(signer.public_pem(), {.now = kBase + 100, .daemon_stopped = false}).ok);
    CHECK_FALSE(reader.newest_checkpoint()->checkpoint_every);
  }
  AuditLog log;
  REQUIRE_FALSE(log.open(path));
  REQUIRE_FALSE(log.append(at(60), kAdmin, "policy.apply", {{"n", 2}}));
  REQUIRE_FALSE(log.add_checkpoint(signer, at(65), true, 600));
  const VerifyResult result =
      log.verify(signer.public_pem(), {.now = kBase + 100, .daemon_stopped = false});
  INFO(result.reason);
  CHECK(result.ok);
  CHECK(log.newest_checkpoint()->checkpoint_every == 600);
  CHECK_FALSE(log.first_checkpoint_from(1)->checkpoint_every);
  std::filesystem::remove_all(dir);
}
