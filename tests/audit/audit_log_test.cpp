#include "daemon/audit/audit_log.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"

using namespace sekisho::audit;

namespace {

// A log of five records in a fresh directory, removed afterwards.
struct Fixture {
  std::filesystem::path dir;
  std::string path;
  Fixture() {
    char name[] = "/tmp/sekisho-audit-XXXXXX";
    dir = ::mkdtemp(name);
    path = (dir / "audit.db").string();
    AuditLog log;
    REQUIRE_FALSE(log.open(path));
    for (int i = 1; i <= 5; ++i) {
      REQUIRE_FALSE(log.append("2026-11-25T10:00:0" + std::to_string(i) + "Z", {0, "root", "admin"},
                               "policy.apply",
                               {{"source", "p" + std::to_string(i) + ".yaml"}, {"n", i}}));
    }
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  // Changes the file behind the log's back, as someone with the sqlite3 CLI would.
  void tamper(const std::string& sql) const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int result = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    INFO(sql << ": " << (error ? error : ""));
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE(result == SQLITE_OK);
  }

  VerifyResult verify() const {
    AuditLog log;
    REQUIRE_FALSE(log.open(path));
    return log.verify();
  }
};

// A VFS over the default one whose reads fail with an I/O error while `failing` is set: a
// disk that cannot be read at a chosen moment. Made the default while a test needs it.
class FailingReads {
 public:
  FailingReads() {
    base_ = sqlite3_vfs_find(nullptr);
    vfs_ = *base_;
    vfs_.zName = "sekisho-failing-reads";
    vfs_.szOsFile = static_cast<int>(sizeof(Wrapped)) + base_->szOsFile;
    vfs_.pAppData = this;
    vfs_.xOpen = &open;
    REQUIRE(sqlite3_vfs_register(&vfs_, 1) == SQLITE_OK);
  }
  ~FailingReads() {
    sqlite3_vfs_register(base_, 1);
    sqlite3_vfs_unregister(&vfs_);
  }
  static inline std::atomic<bool> failing{false};

 private:
  struct Wrapped {
    sqlite3_file file;
    sqlite3_file* real;
  };
  static sqlite3_file* real(sqlite3_file* file) { return reinterpret_cast<Wrapped*>(file)->real; }
  static const sqlite3_io_methods* of(sqlite3_file* file) { return real(file)->pMethods; }

  static int open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out) {
    sqlite3_vfs* base = static_cast<FailingReads*>(vfs->pAppData)->base_;
    auto* wrapped = reinterpret_cast<Wrapped*>(file);
    wrapped->real = reinterpret_cast<sqlite3_file*>(wrapped + 1);
    const int result = base->xOpen(base, name, wrapped->real, flags, out);
    file->pMethods = result == SQLITE_OK && wrapped->real->pMethods ? &kMethods : nullptr;
    return result;
  }

  static constexpr sqlite3_io_methods kMethods = {
      3,
      [](sqlite3_file* f) { return of(f)->xClose(real(f)); },
      [](sqlite3_file* f, void* data, int size, sqlite3_int64 offset) {
        return failing ? SQLITE_IOERR_READ : of(f)->xRead(real(f), data, size, offset);
      },
      [](sqlite3_file* f, const void* data, int size, sqlite3_int64 offset) {
        return of(f)->xWrite(real(f), data, size, offset);
      },
      [](sqlite3_file* f, sqlite3_int64 size) { return of(f)->xTruncate(real(f), size); },
      [](sqlite3_file* f, int flags) { return of(f)->xSync(real(f), flags); },
      [](sqlite3_file* f, sqlite3_int64* size) { return of(f)->xFileSize(real(f), size); },
      [](sqlite3_file* f, int lock) { return of(f)->xLock(real(f), lock); },
      [](sqlite3_file* f, int lock) { return of(f)->xUnlock(real(f), lock); },
      [](sqlite3_file* f, int* out) { return of(f)->xCheckReservedLock(real(f), out); },
      [](sqlite3_file* f, int op, void* arg) { return of(f)->xFileControl(real(f), op, arg); },
      [](sqlite3_file* f) { return of(f)->xSectorSize(real(f)); },
      [](sqlite3_file* f) { return of(f)->xDeviceCharacteristics(real(f)); },
      [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
        return of(f)->xShmMap(real(f), page, size, extend, out);
      },
      [](sqlite3_file* f, int offset, int n, int flags) {
        return of(f)->xShmLock(real(f), offset, n, flags);
      },
      [](sqlite3_file* f) { of(f)->xShmBarrier(real(f)); },
      [](sqlite3_file* f, int remove) { return of(f)->xShmUnmap(real(f), remove); },
      [](sqlite3_file* f, sqlite3_int64 offset, int size, void** out) {
        if (failing) {  // no memory-mapped page either: read through xRead
          *out = nullptr;
          return SQLITE_OK;
        }
        return of(f)->xFetch(real(f), offset, size, out);
      },
      [](sqlite3_file* f, sqlite3_int64 offset, void* page) {
        return of(f)->xUnfetch(real(f), offset, page);
      },
  };

  sqlite3_vfs* base_ = nullptr;
  sqlite3_vfs vfs_{};
};

}  // namespace

TEST_CASE("records chain: each hash is SHA-256 of the previous hash and the canonical JSON") {
  Fixture fixture;
  AuditLog log;
  REQUIRE_FALSE(log.open(fixture.path));
  auto records = log.records(1, "", 100);
  REQUIRE(records.size() == 5);
  CHECK(records[0].previous == kGenesis);
  for (std::size_t i = 0; i < records.size(); ++i) {
    CHECK(records[i].seq == static_cast<std::int64_t>(i + 1));
    if (i > 0) {
      CHECK(records[i].previous == records[i - 1].hash);
    }
    // The documented recipe, spelled out: sha256(previous_hex + canonical).
    CHECK(records[i].hash == sekisho::sha256_hex(records[i].previous + canonical_json(records[i])));
  }
  CHECK(canonical_json(records[0]) ==
        R"({"actor":{"role":"admin","uid":0,"user":"root"},"details":{"n":1,"source":"p1.yaml"},)"
        R"("kind":"policy.apply","seq":1,"time":"2026-11-25T10:00:01Z"})");
  VerifyResult result = log.verify();
  CHECK(result.ok);
  CHECK(result.records == 5);
  CHECK(log.records(4, "", 100).size() == 2);
  CHECK(log.records(1, "daemon.start", 100).empty());
}

TEST_CASE("verify names the first record that breaks, for every kind of tampering") {
  struct Case {
    const char* what;
    const char* sql;
    std::int64_t first_bad;
  };
  const Case cases[] = {
      {"an edited detail",
       "UPDATE records SET details = '{\"n\":3,\"source\":\"evil.yaml\"}' WHERE seq = 3", 3},
      {"an edited time", "UPDATE records SET time = '2026-11-25T09:00:00Z' WHERE seq = 4", 4},
      {"an edited actor",
       "UPDATE records SET actor = '{\"role\":\"admin\",\"uid\":1000,\"user\":\"mallory\"}' WHERE "
       "seq = 2",
       2},
      {"a deleted record", "DELETE FROM records WHERE seq = 3", 3},
      {"an inserted record",
       "UPDATE records SET seq = seq + 10 WHERE seq >= 3; UPDATE records SET seq = seq - 9 WHERE "
       "seq >= 13;"
       "INSERT INTO records VALUES (3, '2026-11-25T10:00:02Z', '{}', 'x', '{}', 'f', 'f')",
       3},
      {"two records swapped",
       "UPDATE records SET seq = 100 WHERE seq = 2; UPDATE records SET seq = 2 WHERE seq = 3;"
       "UPDATE records SET seq = 3 WHERE seq = 100",
       2},
      {"a float smuggled in", "UPDATE records SET details = '{\"n\":1.5}' WHERE seq = 5", 5},
  };
  for (const Case& c : cases) {
    Fixture fixture;
    fixture.tamper(c.sql);
    VerifyResult result = fixture.verify();
    INFO(c.what << ": " << result.reason);
    CHECK_FALSE(result.ok);
    REQUIRE(result.first_bad);
    CHECK(*result.first_bad == c.first_bad);
  }
}

TEST_CASE("details must be integers, not floats") {
  Fixture fixture;
  AuditLog log;
  REQUIRE_FALSE(log.open(fixture.path));
  CHECK_THROWS(log.append("2026-11-25T11:00:00Z", {0, "root", "admin"}, "x", {{"ratio", 0.5}}));
  CHECK(log.verify().records == 5);
}

TEST_CASE("the device key is made once, 0600, and signs checkpoints an auditor can check") {
  Fixture fixture;
  const std::string key_path = (fixture.dir / "audit-key.pem").string();
  Signer signer;
  REQUIRE_FALSE(signer.load_or_create(key_path));
  struct stat info {};
  REQUIRE(::stat(key_path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  Signer again;
  REQUIRE_FALSE(again.load_or_create(key_path));
  CHECK(again.public_pem() == signer.public_pem());
  CHECK(signer.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
  const std::string signature = signer.sign_hex("message");
  CHECK(signature.size() == 128);
  CHECK(verify_signature(signer.public_pem(), "message", signature));
  CHECK_FALSE(verify_signature(signer.public_pem(), "massage", signature));
}

TEST_CASE("a key file that is there but unusable is never replaced, and signs nothing") {
  Fixture fixture;
  const std::string key_path = (fixture.dir / "audit-key.pem").string();
  auto file_text = [&key_path] {
    std::error_code error;
    return sekisho::read_small_file(key_path, 1 << 20, error).value_or("<unreadable>");
  };
  struct Case {
    const char* what;
    std::function<void()> make;
    const char* problem;
  };
  const Case cases[] = {
      {"a directory", [&] { std::filesystem::create_directory(key_path); }, "is a directory"},
      {"garbage", [&] { REQUIRE_FALSE(sekisho::write_new_file(key_path, "not a key\n", 0600)); },
       "does not hold an Ed25519 private key"},
      {"an empty file", [&] { REQUIRE_FALSE(sekisho::write_new_file(key_path, "", 0600)); },
       "does not hold an Ed25519 private key"},
      {"another kind of key",
       [&] {
         REQUIRE_FALSE(sekisho::write_new_file(
             key_path,
             "-----BEGIN PRIVATE KEY-----\n"
             "MC4CAQAwBQYDK2VuBCIEIHBqbh7bd6MfZ7qM2qYj7rEwVnRkcBOJOjFrvKEQ3g9I\n"
             "-----END PRIVATE KEY-----\n",
             0600));
       },
       "does not hold an Ed25519 private key"},
      {"a symbolic link to a good key",
       [&] {
         Signer elsewhere;
         REQUIRE_FALSE(elsewhere.load_or_create((fixture.dir / "elsewhere.pem").string()));
         std::filesystem::create_symlink(fixture.dir / "elsewhere.pem", key_path);
       },
       "is a symbolic link"},
      // The case that made a throwaway key before: open() failed (a dangling link, no
      // permission), a key was made in memory, saving it failed, and it signed anyway.
      {"a dangling symbolic link",
       [&] { std::filesystem::create_symlink(fixture.dir / "gone.pem", key_path); },
       "is a symbolic link"},
      {"a file that is too large",
       [&] { REQUIRE_FALSE(sekisho::write_new_file(key_path, std::string(100000, 'A'), 0600)); },
       "cannot be read"},
  };
  std::vector<Case> all(std::begin(cases), std::end(cases));
  if (::geteuid() != 0) {  // root reads a file of any mode
    all.push_back({"a file without read permission",
                   [&] { REQUIRE_FALSE(sekisho::write_new_file(key_path, "secret", 0000)); },
                   "cannot be read: Permission denied"});
  }
  for (const Case& c : all) {
    std::filesystem::remove_all(key_path);
    std::filesystem::remove_all(fixture.dir / "elsewhere.pem");
    c.make();
    const std::string before = file_text();
    Signer signer;
    INFO(c.what);
    CHECK(signer.load_or_create(key_path));
    CHECK_FALSE(signer.ready());
    CHECK(signer.problem().find(c.problem) != std::string::npos);
    CHECK(signer.problem().find(key_path) == 0);
    CHECK(signer.sign_hex("message").empty());
    CHECK(signer.public_pem().empty());
    CHECK(file_text() == before);  // left as it was: no new key in its place
    CHECK_FALSE(std::filesystem::exists(key_path + ".new"));
  }
}

TEST_CASE("a missing key is made, saved whole and read back; a stale PATH.new is replaced") {
  Fixture fixture;
  const std::string key_path = (fixture.dir / "audit-key.pem").string();
  REQUIRE_FALSE(sekisho::write_new_file(key_path + ".new", "half a key from a crash", 0644));
  Signer signer;
  REQUIRE_FALSE(signer.load_or_create(key_path));
  CHECK(signer.ready());
  CHECK(signer.problem().empty());
  CHECK_FALSE(std::filesystem::exists(key_path + ".new"));
  struct stat info {};
  REQUIRE(::lstat(key_path.c_str(), &info) == 0);
  CHECK(S_ISREG(info.st_mode));
  CHECK((info.st_mode & 0777) == 0600);
  CHECK(info.st_nlink == 1);
  Signer loaded;
  REQUIRE_FALSE(loaded.load(key_path));
  CHECK(loaded.public_pem() == signer.public_pem());
  // load() never makes one.
  Signer none;
  CHECK(none.load((fixture.dir / "missing.pem").string()) == std::errc::no_such_file_or_directory);
  CHECK_FALSE(std::filesystem::exists(fixture.dir / "missing.pem"));
  // A directory that cannot take the key: no key, and why.
  Signer nowhere;
  CHECK(nowhere.load_or_create((fixture.dir / "no-such-dir" / "key.pem").string()));
  CHECK_FALSE(nowhere.ready());
  CHECK(nowhere.problem().find("cannot be written") != std::string::npos);
}

TEST_CASE("checkpoints catch a rewritten chain, removed records and a forged signature") {
  struct Case {
    const char* what;
    std::function<void(Fixture&)> tamper;
  };
  // Edits record 3 and recomputes every later hash: the chain alone stays consistent.
  auto rewrite = [](Fixture& fixture) {
    AuditLog log;
    REQUIRE_FALSE(log.open(fixture.path));
    std::vector<Record> records = log.records(1, "", 100);
    std::string previous = records[1].hash;
    std::string sql;
    for (std::size_t i = 2; i < records.size(); ++i) {
      Record& record = records[i];
      if (i == 2)
        record.details = {{"n", 3}, {"source", "evil.yaml"}};
      record.previous = previous;
      record.hash = record_hash(previous, canonical_json(record));
      previous = record.hash;
      sql += "UPDATE records SET details = '" + record.details.dump() + "', previous = '" +
             record.previous + "', hash = '" + record.hash +
             "' WHERE seq = " + std::to_string(record.seq) + ";";
    }
    fixture.tamper(sql);
  };
  const Case cases[] = {
      {"a rewritten chain", rewrite},
      {"the newest records removed",
       [](Fixture& fixture) { fixture.tamper("DELETE FROM records WHERE seq >= 4"); }},
      {"a forged signature",
       [](Fixture& fixture) {
         fixture.tamper("UPDATE checkpoints SET signature = substr(signature, 2) || '0'");
       }},
  };
  for (const Case& c : cases) {
    Fixture fixture;
    Signer signer;
    REQUIRE_FALSE(signer.load_or_create((fixture.dir / "key.pem").string()));
    {
      AuditLog log;
      REQUIRE_FALSE(log.open(fixture.path));
      REQUIRE_FALSE(log.add_checkpoint(signer, "2026-11-25T10:01:00Z", true));
      CHECK(log.records_since_checkpoint() == 0);
      CHECK(log.verify(signer.public_pem()).ok);
    }
    c.tamper(fixture);
    AuditLog log;
    REQUIRE_FALSE(log.open(fixture.path));
    VerifyResult result = log.verify(signer.public_pem());
    INFO(c.what << ": " << result.reason);
    CHECK_FALSE(result.ok);
    REQUIRE(result.first_bad);
    CHECK(*result.first_bad == 1);
  }
}

TEST_CASE("a verify asked to stop gives up at once, not ok and marked stopped") {
  Fixture fixture;
  AuditLog log;
  REQUIRE_FALSE(log.open(fixture.path));
  std::stop_source stop;
  stop.request_stop();
  VerifyOptions options;
  options.stop = stop.get_token();
  const VerifyResult result = log.verify("", options);
  CHECK_FALSE(result.ok);
  CHECK(result.stopped);
  CHECK(result.records == 0);
  CHECK_FALSE(result.first_bad);
  // Not asked: the whole log, intact.
  const VerifyResult whole = log.verify();
  CHECK(whole.ok);
  CHECK_FALSE(whole.stopped);
  CHECK(whole.records == 5);
}

TEST_CASE("deeply nested details in the file are a bad record, never a crash") {
  // Written by someone with the sqlite3 CLI: 200,000 levels, far below sqlite's size limit;
  // copying, dumping or walking such a value recursively would run out of stack.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string deep_object =
      "{\"uid\":0,\"user\":\"root\",\"role\":\"admin\",\"x\":" + deep + "}";
  for (const std::string& column : {std::string("details"), std::string("actor")}) {
    Fixture fixture;
    fixture.tamper("UPDATE records SET " + column + " = '" +
                   (column == "details" ? deep : deep_object) + "' WHERE seq = 3");
    AuditLog log;
    REQUIRE_FALSE(log.open(fixture.path));
    const VerifyResult result = log.verify();
    INFO(column << ": " << result.reason);
    CHECK_FALSE(result.ok);
    CHECK(result.first_bad == 3);
    CHECK(result.reason.find(" deeper than 64 levels") != std::string::npos);
    // What audit.show reads: the record, marked, its details not kept.
    const std::vector<Record> records = log.records(3, "", 1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].unreadable.find(" deeper than 64 levels") != std::string::npos);
    CHECK_THROWS(canonical_json(records[0]));
    CHECK(nlohmann::json(records[0].details).dump().size() < 100);
  }
  // Details that are not JSON, and an actor without its fields: bad records too.
  Fixture fixture;
  fixture.tamper(
      "UPDATE records SET details = '{not json' WHERE seq = 2;"
      "UPDATE records SET actor = '{\"uid\":\"zero\"}' WHERE seq = 4");
  AuditLog log;
  REQUIRE_FALSE(log.open(fixture.path));
  CHECK(log.verify().reason == "record 2: its details are not JSON");
  CHECK(log.records(4, "", 1).at(0).unreadable == "its actor is not {uid, user, role}");
}

TEST_CASE("a page of one kind is read through index records_by_kind, made when a log is opened") {
  Fixture fixture;
  fixture.tamper("DROP INDEX IF EXISTS records_by_kind");  // a log from before the index
  AuditLog log;
  REQUIRE_FALSE(log.open(fixture.path));
  REQUIRE_FALSE(log.append("2026-11-25T10:00:06Z", {0, "root", "admin"}, "daemon.stop", {}));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(fixture.path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* plan = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "EXPLAIN QUERY PLAN SELECT seq, time, actor, kind, details, "
                             "previous, hash FROM records WHERE kind = 'x' AND seq >= 1 ORDER BY "
                             "seq LIMIT 10",
                             -1, &plan, nullptr) == SQLITE_OK);
  std::string steps;
  while (sqlite3_step(plan) == SQLITE_ROW) {
    steps += reinterpret_cast<const char*>(sqlite3_column_text(plan, 3));
  }
  sqlite3_finalize(plan);
  sqlite3_close(db);
  INFO(steps);
  CHECK(steps.find("SEARCH records USING INDEX records_by_kind") != std::string::npos);
  const std::vector<Record> stops = log.records(1, "daemon.stop", 10);
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].seq == 6);
  CHECK(log.records(2, "policy.apply", 2).size() == 2);
  CHECK(log.records(2, "policy.apply", 2)[0].seq == 2);
  CHECK(log.records(1, "", 100).size() == 6);
}

TEST_CASE("a watched log changed under its writer takes nothing more, and signs nothing more") {
  struct Case {
    const char* what;
    const char* sql;
  };
  // Record 6 is the writer's newest, unsigned; 5 is signed. Each as someone with write access
  // to audit.db but not the key would do it while sekishod runs.
  const Case cases[] = {
      {"the newest record deleted", "DELETE FROM records WHERE seq = 6"},
      {"the newest record rewritten",
       "UPDATE records SET details = '{\"source\":\"evil.yaml\"}', hash = 'ff' || substr(hash, 3) "
       "WHERE seq = 6"},
      {"a record added after it",
       "INSERT INTO records SELECT 7, time, actor, kind, details, hash, hash FROM records "
       "WHERE seq = 6"},
      {"a checkpoint row put in the way",
       "INSERT INTO checkpoints (seq, time, clock_synchronised, hash, signature) "
       "SELECT 6, time, 1, hash, '00' FROM records WHERE seq = 6"},
      {"the signed checkpoint deleted", "DELETE FROM checkpoints WHERE seq = 5"},
      {"the start moved", "INSERT INTO meta VALUES ('start_seq', '2'), ('start_hash', 'x')"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    Fixture fixture;
    Signer signer;
    REQUIRE_FALSE(signer.load_or_create((fixture.dir / "key.pem").string()));
    AuditLog writer;
    REQUIRE_FALSE(writer.open(fixture.path));
    REQUIRE_FALSE(writer.add_checkpoint(signer, "2026-11-25T10:01:00Z", true));
    writer.watch();
    REQUIRE_FALSE(writer.append("2026-11-25T10:01:01Z", {0, "root", "admin"}, "policy.apply", {}));
    CHECK(writer.unchanged());
    CHECK(writer.records_since_checkpoint() == 1);

    fixture.tamper(c.sql);
    const auto rows = [&fixture] {
      AuditLog reader;
      REQUIRE_FALSE(reader.open_read_only(fixture.path));
      const auto checkpoint = reader.newest_checkpoint();
      return std::make_pair(reader.last_seq(), checkpoint ? checkpoint->seq : 0);
    };
    const auto before = rows();
    const std::error_code refused = std::make_error_code(std::errc::state_not_recoverable);
    CHECK(writer.append("2026-11-25T10:01:02Z", {0, "root", "admin"}, "policy.apply", {}) ==
          refused);
    CHECK(writer.add_checkpoint(signer, "2026-11-25T10:01:03Z", true) == refused);
    CHECK(writer.prune_through(5) == refused);
    CHECK_FALSE(writer.unchanged());
    CHECK(writer.changed().find("changed under sekishod") != std::string::npos);
    CHECK(rows() == before);  // nothing written, nothing signed
  }
}

TEST_CASE("a watched log once changed stays refused, also when the file holds it again") {
  {
    Fixture fixture;
    AuditLog writer;
    REQUIRE_FALSE(writer.open(fixture.path));
    writer.watch();
    fixture.tamper(
        "INSERT INTO records SELECT 6, time, actor, kind, details, hash, hash FROM "
        "records WHERE seq = 5");
    CHECK(writer.append("2026-11-25T10:01:02Z", {0, "root", "admin"}, "policy.apply", {}) ==
          std::make_error_code(std::errc::state_not_recoverable));
    fixture.tamper("DELETE FROM records WHERE seq = 6");
    CHECK(writer.append("2026-11-25T10:01:02Z", {0, "root", "admin"}, "policy.apply", {}) ==
          std::make_error_code(std::errc::state_not_recoverable));
  }
}

TEST_CASE("a watched log nobody else changes takes records, checkpoints and retention") {
  {
    Fixture fixture;
    Signer signer;
    REQUIRE_FALSE(signer.load_or_create((fixture.dir / "key.pem").string()));
    AuditLog writer;
    REQUIRE_FALSE(writer.open(fixture.path));
    writer.watch();
    // A reader beside it changes nothing.
    CHECK(fixture.verify().ok);
    CHECK_FALSE(writer.add_checkpoint(signer, "2026-11-25T10:01:00Z", true));
    CHECK_FALSE(writer.add_checkpoint(signer, "2026-11-25T10:01:00Z", true));  // signed already
    CHECK_FALSE(writer.append("2026-11-25T10:01:01Z", {0, "sekishod", "daemon"}, "audit.pruned",
                              {{"through", 5}, {"hash", writer.hash_before(6).value()}}));
    CHECK_FALSE(writer.prune_through(5));
    CHECK_FALSE(writer.append("2026-11-25T10:01:02Z", {0, "root", "admin"}, "policy.apply", {}));
    CHECK_FALSE(writer.add_checkpoint(signer, "2026-11-25T10:01:03Z", true));
    CHECK(writer.unchanged());
    CHECK(writer.changed().empty());
    CHECK(writer.verify(signer.public_pem(), {.now = 1795600920}).ok);
  }
}

TEST_CASE("a checkpoint row in the way of a new one is an error, not a silent no-op") {
  Fixture fixture;
  Signer signer;
  REQUIRE_FALSE(signer.load_or_create((fixture.dir / "key.pem").string()));
  fixture.tamper(
      "INSERT INTO checkpoints (seq, time, clock_synchronised, hash, signature) "
      "VALUES (5, '2026-11-25T10:01:00Z', 1, 'not the hash', '00')");
  AuditLog log;
  REQUIRE_FALSE(log.open(fixture.path));
  CHECK(log.add_checkpoint(signer, "2026-11-25T10:01:00Z", true));
}

TEST_CASE("a log that cannot be read for a moment is not a log changed under its writer") {
  FailingReads disk;
  Fixture fixture;
  const std::error_code refused = std::make_error_code(std::errc::state_not_recoverable);
  // Someone else's write that the guard does not look at: the writer's cached pages go, so
  // its next read goes to the disk.
  const auto other_write = [&fixture] {
    fixture.tamper("INSERT OR REPLACE INTO meta VALUES ('exported_through', '1')");
  };
  AuditLog writer;
  REQUIRE_FALSE(writer.open(fixture.path));
  other_write();
  FailingReads::failing = true;
  CHECK(writer.watch());  // cannot read: taken at the next check that can
  FailingReads::failing = false;
  REQUIRE_FALSE(writer.append("2026-11-25T10:01:01Z", {0, "root", "admin"}, "policy.apply", {}));
  CHECK(writer.changed().empty());

  other_write();
  FailingReads::failing = true;
  CHECK(writer.unchanged());  // nothing known changed; the write fails instead
  const std::error_code failed =
      writer.append("2026-11-25T10:01:02Z", {0, "root", "admin"}, "policy.apply", {});
  CHECK(failed);
  CHECK(failed != refused);
  FailingReads::failing = false;
  CHECK(writer.changed().empty());
  CHECK(writer.records(1, "", 100).size() == 6);  // the failed write changed nothing

  REQUIRE_FALSE(writer.append("2026-11-25T10:01:03Z", {0, "root", "admin"}, "policy.apply", {}));
  CHECK(writer.unchanged());
  CHECK(writer.changed().empty());
  CHECK(fixture.verify().ok);
}

TEST_CASE("the writer waits for a lock someone else holds a moment, instead of failing") {
  Fixture fixture;
  AuditLog writer;
  REQUIRE_FALSE(writer.open(fixture.path));
  REQUIRE_FALSE(writer.watch());
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(fixture.path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  std::thread release([other] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  const std::error_code appended =
      writer.append("2026-11-25T10:01:01Z", {0, "root", "admin"}, "policy.apply", {});
  release.join();
  sqlite3_close(other);
  CHECK_FALSE(appended);
  CHECK(writer.changed().empty());
  CHECK(writer.last_seq() == 6);
}

TEST_CASE("a log whose index records_by_kind cannot be made still opens, takes records and reads") {
  Fixture fixture;
  // A log from before the index, where it cannot be made: the name is taken by a table.
  fixture.tamper("DROP INDEX IF EXISTS records_by_kind; CREATE TABLE records_by_kind (x INTEGER)");
  AuditLog log;
  REQUIRE_FALSE(log.open(fixture.path));
  log.watch();
  REQUIRE_FALSE(log.append("2026-11-25T10:00:06Z", {0, "root", "admin"}, "daemon.stop", {}));
  CHECK(log.changed().empty());
  const std::vector<Record> stops = log.records(1, "daemon.stop", 10);
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].seq == 6);
  CHECK(log.records(2, "policy.apply", 2).size() == 2);
  CHECK(fixture.verify().ok);
}
