// Retention: records leave the audit log only from its start, only when an export covers
// them and they are older than the policy's retention, and only after an audit.pruned
// record that the chain then carries; anything else that removes old records is found.

#include <chrono>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"
#include "daemon/sekishod/auditor.hpp"

using namespace sekisho;
using namespace std::chrono_literals;

namespace {

// A state directory whose log holds ten records of 2025-01-01, 00:00:01 to 00:00:10.
struct OldLog {
  std::filesystem::path dir;
  OldLog() {
    char name[] = "/tmp/sekisho-retention-XXXXXX";
    dir = ::mkdtemp(name);
    audit::AuditLog log;
    REQUIRE_FALSE(log.open((dir / "audit.db").string()));
    for (int i = 1; i <= 10; ++i) {
      const std::string second = (i < 10 ? "0" : "") + std::to_string(i);
      REQUIRE_FALSE(log.append("2025-01-01T00:00:" + second + "Z", {0, "root", "admin"},
                               "policy.apply", {{"n", i}}));
    }
  }
  ~OldLog() { std::filesystem::remove_all(dir); }
  std::string db() const { return (dir / "audit.db").string(); }
};

std::chrono::system_clock::time_point at(int year) {
  using namespace std::chrono;
  return sys_days(std::chrono::year(year) / January / 1);
}

int count(audit::AuditLog& log, const std::string& kind) {
  return static_cast<int>(log.records(1, kind, 100000).size());
}

}  // namespace

TEST_CASE("nothing is pruned that no export covers, however old") {
  OldLog old;
  daemon::Auditor auditor;
  auditor.open(old.dir.string());
  auditor.retain(policy::Audit{}, at(2030));
  CHECK(auditor.log().start().seq == 0);
  CHECK(auditor.log().records(1, "", 100).front().seq == 1);
  CHECK(count(auditor.log(), "audit.pruned") == 0);
}

TEST_CASE("exported records older than the retention go, after an audit.pruned record") {
  OldLog old;
  daemon::Auditor auditor;
  auditor.open(old.dir.string());
  audit::AuditLog& log = auditor.log();
  REQUIRE_FALSE(log.set_exported_through(7));
  const std::string hash7 = *log.hash_before(8);

  // 2025-01-01 + 400 days is in February 2026: not yet at the start of 2026.
  auditor.retain(policy::Audit{}, at(2026));
  CHECK(log.start().seq == 0);

  auditor.retain(policy::Audit{}, at(2027));
  CHECK(log.start().seq == 7);
  CHECK(log.start().hash == hash7);
  CHECK(log.records(1, "", 100).front().seq == 8);
  const std::vector<audit::Record> pruned = log.records(1, "audit.pruned", 10);
  REQUIRE(pruned.size() == 1);
  CHECK(pruned[0].details["through"] == 7);
  CHECK(pruned[0].details["hash"] == hash7);

  // The chain goes on from the removed records' hash, and verifies.
  auditor.record(daemon::Auditor::daemon_actor(), "daemon.start", {{"pid", 1}});
  auditor.checkpoint();
  const audit::VerifyResult result = log.verify(auditor.public_pem());
  INFO(result.reason);
  CHECK(result.ok);
  CHECK(*log.hash_before(8) == hash7);  // where an export of what is left starts

  // Again: nothing more is covered by an export.
  auditor.retain(policy::Audit{}, at(2030));
  CHECK(log.start().seq == 7);
}

TEST_CASE("old records removed without an audit.pruned record are found") {
  OldLog old;
  {
    audit::AuditLog log;
    REQUIRE_FALSE(log.open(old.db()));
    const std::string hash3 = *log.hash_before(4);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(old.db().c_str(), &db) == SQLITE_OK);
    const std::string sql =
        "DELETE FROM records WHERE seq <= 3;"
        "INSERT OR REPLACE INTO meta VALUES ('start_seq', '3');"
        "INSERT OR REPLACE INTO meta VALUES ('start_hash', '" +
        hash3 + "');";
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  audit::AuditLog log;
  REQUIRE_FALSE(log.open(old.db()));
  const audit::VerifyResult result = log.verify();
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == 1);
  CHECK(result.reason.find("without an audit.pruned record") != std::string::npos);
}

TEST_CASE("a log near its disk budget warns once per crossing") {
  OldLog old;
  daemon::Auditor auditor;
  auditor.open(old.dir.string());
  policy::Audit rules;
  rules.disk_budget_bytes = 4096;  // the log is already larger
  auditor.retain(rules, at(2025));
  auditor.retain(rules, at(2025));
  CHECK(count(auditor.log(), "audit.budget") == 1);
  rules.disk_budget_bytes = 1ull << 40;
  auditor.retain(rules, at(2025));
  rules.disk_budget_bytes = 4096;
  auditor.retain(rules, at(2025));
  CHECK(count(auditor.log(), "audit.budget") == 2);
}

TEST_CASE("a user name that is not UTF-8 is recorded, and the log keeps working") {
  OldLog old;
  audit::AuditLog log;
  REQUIRE_FALSE(log.open(old.db()));
  CHECK_FALSE(log.append("2025-01-02T00:00:00Z", {1000, "bad\xff\xfename", "viewer"},
                         "control.refused", {{"file", "x\xc3"}}));
  CHECK_FALSE(log.append("2025-01-02T00:00:01Z", {0, "root", "admin"}, "daemon.stop", {}));
  CHECK(log.records(11, "", 10).size() == 2);
  CHECK(log.verify().ok);
}
