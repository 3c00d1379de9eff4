#include "daemon/audit/audit_log.hpp"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/audit/signer.hpp"
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
