// Retention: records leave the audit log only from its start, only when an export covers
// them and they are older than the policy's retention, and only after an audit.pruned
// record that the chain then carries; anything else that removes old records is found.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/bundle.hpp"
#include "daemon/sekishod/auditor.hpp"
#include "daemon/sekishod/exporter.hpp"

using namespace sekisho;
using namespace std::chrono_literals;

namespace {

// A state directory whose log holds ten records of 2025-01-01, 00:00:01 to 00:00:10,
// records 4, 7 and 10 signed when they were written by the key sekishod finds there.
struct OldLog {
  std::filesystem::path dir;
  OldLog() {
    char name[] = "/tmp/sekisho-retention-XXXXXX";
    dir = ::mkdtemp(name);
    audit::AuditLog log;
    audit::Signer signer;
    REQUIRE_FALSE(log.open((dir / "audit.db").string()));
    REQUIRE_FALSE(signer.load_or_create((dir / "audit-key.pem").string()));
    for (int i = 1; i <= 10; ++i) {
      const std::string time =
          "2025-01-01T00:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + "Z";
      REQUIRE_FALSE(log.append(time, {0, "root", "admin"}, "policy.apply", {{"n", i}}));
      if (i % 3 == 1 && i > 1) {
        REQUIRE_FALSE(log.add_checkpoint(signer, time, true));
      }
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
  // Through 8 exported: records go only up to a signed one (7), whose checkpoint stays and
  // signs where the kept records start.
  REQUIRE_FALSE(log.set_exported_through(8));
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

  CHECK(log.last_checkpoint_before(8)->seq == 7);

  // The chain goes on from the removed records' hash, and verifies, the time rule too.
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

namespace {

// sekishod's audit parts on an OldLog's state directory, and its event loop.
struct Daemon {
  OldLog old;
  daemon::Auditor auditor;
  boost::asio::io_context io;
  daemon::Exporter exporter{io};

  void start() {
    auditor.open(old.dir.string());
    exporter.open(old.dir.string());
  }
  // An export from the first record on, run to its end as the daemon's loop would.
  const daemon::Exporter::Job& export_all(const std::string& since = "2000-01-01T00:00:00Z") {
    const std::int64_t id = exporter.start(since, {1000, "alice", "admin"}, auditor);
    io.restart();  // after an earlier run ran out of work
    auto guard = boost::asio::make_work_guard(io);
    for (int i = 0; i < 600 && exporter.busy(); ++i) {
      io.run_one_for(std::chrono::milliseconds(100));
    }
    REQUIRE_FALSE(exporter.busy());
    REQUIRE(exporter.job(id));
    return *exporter.job(id);
  }
};

}  // namespace

TEST_CASE("retention prunes only after sekishod itself wrote and verified an export") {
  Daemon daemon;
  daemon.start();
  audit::AuditLog& log = daemon.auditor.log();
  daemon.auditor.retain(policy::Audit{}, at(2027));
  CHECK(log.start().seq == 0);  // nothing exported: nothing goes, however old

  const daemon::Exporter::Job& job = daemon.export_all();
  INFO(job.outcome.error);
  REQUIRE(job.outcome.error.empty());
  CHECK(job.outcome.records == 10);
  CHECK(job.outcome.first_seq == 1);
  CHECK(job.continues);
  CHECK(job.exported_through == 10);
  CHECK(log.exported_through() == 10);
  // The file is in STATE_DIR/exports, as the auditor's check reads it.
  const std::string path = daemon.exporter.path_of(job);
  CHECK(path == (daemon.old.dir / "exports" / job.file).string());
  CHECK(audit::verify_bundle_file(path, daemon.auditor.public_pem()).ok);
  const std::vector<audit::Record> exported = log.records(1, "audit.exported", 10);
  REQUIRE(exported.size() == 1);
  CHECK(exported[0].actor.user == "alice");
  CHECK(exported[0].details["sha256"] == job.outcome.sha256);
  CHECK(exported[0].details["through"] == 10);
  CHECK(daemon.exporter.usage().first == 1);

  daemon.auditor.retain(policy::Audit{}, at(2027));
  CHECK(log.start().seq == 10);
  CHECK(log.verify(daemon.auditor.public_pem()).ok);

  // A second export of all that is left supersedes nothing it does not hold: both stay.
  CHECK(daemon.export_all().outcome.error.empty());
  CHECK(daemon.exporter.usage().first == 2);
}

TEST_CASE("the only bundle of records retention removed is never one of those that make room") {
  Daemon daemon;
  daemon.start();
  const daemon::Exporter::Job& job = daemon.export_all();
  REQUIRE(job.outcome.error.empty());
  const std::filesystem::path exports = daemon.old.dir / "exports";
  const std::filesystem::path only_copy = exports / job.file;
  daemon.auditor.retain(policy::Audit{}, at(2027));
  REQUIRE(daemon.auditor.log().start().seq == 10);  // records 1..10 are only in that bundle
  // Two newer bundles of later records (named as sekishod names them, newer than it), that
  // the next export does not supersede: one too many then.
  for (const char* name :
       {"audit-12-1000-20991231T000000Z.tar.gz", "audit-13-1001-20991231T000001Z.tar.gz"}) {
    std::ofstream(exports / name) << "a bundle";
  }
  REQUIRE(daemon.export_all().outcome.error.empty());
  CHECK(std::filesystem::exists(only_copy));
  CHECK_FALSE(std::filesystem::exists(exports / "audit-12-1000-20991231T000000Z.tar.gz"));
  CHECK(daemon.exporter.usage().first == daemon::Exporter::kKept);
  // Once another bundle holds them too, it may go like any other.
  std::ofstream(exports / "audit-1-1002-20991231T000002Z.tar.gz") << "a bundle";
  REQUIRE(daemon.export_all().outcome.error.empty());
  CHECK_FALSE(std::filesystem::exists(only_copy));
}

TEST_CASE("the only bundle of exported records stays before retention removed them, too") {
  // Retention may remove whatever was exported: a bundle that alone holds exported records
  // must not make room while the log still holds them, or it is gone before they are.
  Daemon daemon;
  daemon.start();
  const daemon::Exporter::Job& job = daemon.export_all();
  REQUIRE(job.outcome.error.empty());
  const std::filesystem::path only_copy = daemon.old.dir / "exports" / job.file;
  REQUIRE(daemon.auditor.log().start().seq == 0);  // nothing removed yet
  for (const char* name :
       {"audit-12-1000-20991231T000000Z.tar.gz", "audit-13-1001-20991231T000001Z.tar.gz"}) {
    std::ofstream(daemon.old.dir / "exports" / name) << "a bundle";
  }
  // A later export that holds only the newer records: one too many, and not this one.
  const daemon::Exporter::Job& later = daemon.export_all("2026-01-01T00:00:00Z");
  REQUIRE(later.outcome.error.empty());
  REQUIRE(later.outcome.first_seq > 10);
  CHECK(std::filesystem::exists(only_copy));
  CHECK_FALSE(std::filesystem::exists(daemon.old.dir / "exports" /
                                      "audit-12-1000-20991231T000000Z.tar.gz"));
}

TEST_CASE("a bundle downloaded to its end may go; never-downloaded only copies stop new exports") {
  Daemon daemon;
  daemon.start();
  const daemon::Exporter::Job& job = daemon.export_all();
  REQUIRE(job.outcome.error.empty());
  const std::string file = job.file;
  const std::filesystem::path exports = daemon.old.dir / "exports";
  daemon.auditor.retain(policy::Audit{}, at(2027));
  const std::int64_t pruned = daemon.auditor.log().start().seq;
  REQUIRE(pruned == 10);
  CHECK(daemon.exporter.held_back(pruned) == std::vector<std::string>{file});
  daemon.exporter.mark_copied(job);
  CHECK(std::filesystem::exists(exports / (file + ".copied")));
  CHECK(daemon.exporter.held_back(pruned).empty());
  // One too many: the downloaded only copy is the oldest, and goes with its mark.
  for (const char* name :
       {"audit-12-1000-20991231T000000Z.tar.gz", "audit-13-1001-20991231T000001Z.tar.gz"}) {
    std::ofstream(exports / name) << "a bundle";
  }
  REQUIRE(daemon.export_all().outcome.error.empty());
  CHECK_FALSE(std::filesystem::exists(exports / file));
  CHECK_FALSE(std::filesystem::exists(exports / (file + ".copied")));
  CHECK(daemon.exporter.usage().first == daemon::Exporter::kKept);

  // Three bundles, each the only copy of some records retention removed, none downloaded:
  // that many held back is what refuses a new export (service_audit.cpp).
  for (const std::filesystem::directory_entry& entry :
       std::filesystem::directory_iterator(exports)) {
    std::filesystem::remove(entry.path());
  }
  for (const char* name : {"audit-1-4-20250101T000000Z.tar.gz", "audit-5-7-20250101T000001Z.tar.gz",
                           "audit-8-10-20250101T000002Z.tar.gz"}) {
    std::ofstream(exports / name) << "a bundle";
  }
  CHECK(daemon.exporter.held_back(pruned).size() == daemon::Exporter::kKept);
  // One that holds them all too: none of them is the only copy any more (nor is it).
  std::ofstream(exports / "audit-1-12-20250101T000003Z.tar.gz") << "a bundle";
  CHECK(daemon.exporter.held_back(pruned).empty());
}

TEST_CASE("a mark whose bundle is gone is removed when sekishod starts") {
  Daemon daemon;
  const std::filesystem::path exports = daemon.old.dir / "exports";
  std::filesystem::create_directories(exports);
  std::ofstream(exports / "audit-1-10-20260101T000000Z.tar.gz.copied");
  std::ofstream(exports / "audit-1-11-20260101T000000Z.tar.gz") << "a bundle";
  std::ofstream(exports / "audit-1-11-20260101T000000Z.tar.gz.copied");
  daemon.start();
  CHECK_FALSE(std::filesystem::exists(exports / "audit-1-10-20260101T000000Z.tar.gz.copied"));
  CHECK(std::filesystem::exists(exports / "audit-1-11-20260101T000000Z.tar.gz.copied"));
}

TEST_CASE("a file put in exports/ by hand is not counted; a half-written one is removed") {
  Daemon daemon;
  const std::filesystem::path exports = daemon.old.dir / "exports";
  std::filesystem::create_directories(exports);
  // What a crash leaves, and what someone with root may put there: never read to count.
  for (const char* name : {"export-3.tmp", "audit-1-10-20260101T000000Z.tar.gz.new"}) {
    std::ofstream(exports / name) << "half a bundle";
  }
  std::ofstream(exports / "audit-1-10-20260101T000000Z.tar.gz") << "not a bundle";
  daemon.start();
  CHECK_FALSE(std::filesystem::exists(exports / "export-3.tmp"));
  CHECK_FALSE(std::filesystem::exists(exports / "audit-1-10-20260101T000000Z.tar.gz.new"));
  daemon.auditor.retain(policy::Audit{}, at(2027));
  CHECK(daemon.auditor.log().exported_through() == 0);
  CHECK(daemon.auditor.log().start().seq == 0);
}

TEST_CASE("an export that cannot be written counts for nothing") {
  Daemon daemon;
  daemon.start();
  std::filesystem::remove_all(daemon.old.dir / "exports");
  std::ofstream(daemon.old.dir / "exports") << "a file where the directory was";
  const daemon::Exporter::Job& job = daemon.export_all();
  CHECK_FALSE(job.outcome.error.empty());
  CHECK(daemon.auditor.log().exported_through() == 0);
  CHECK(daemon.auditor.log().records(1, "audit.exported", 10).empty());
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
