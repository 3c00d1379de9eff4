// `sekishoctl audit verify --bundle FILE --pubkey FILE`, in-process: a bundle checked
// offline, its output and exit codes.

#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/audit/bundle.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "tests/audit/bundle_fixture.hpp"
#include "tests/ctl/run_command.hpp"

using namespace sekisho;
using namespace sekisho::ctl;

namespace {

using testing::Run;

// A log of 120 records exported from record 21 on, and the device's public key.
struct Exported {
  std::filesystem::path dir;
  std::string bundle;
  std::string pubkey;
  std::string other_key;
  audit::Bundle contents;
  Exported() {
    char name[] = "/tmp/sekisho-ctl-bundle-XXXXXX";
    dir = ::mkdtemp(name);
    audit::AuditLog log;
    REQUIRE_FALSE(log.open((dir / "audit.db").string()));
    REQUIRE(audit::testing::fill_log(log, 120));
    audit::Signer signer, other;
    REQUIRE_FALSE(signer.load_or_create((dir / "key.pem").string()));
    REQUIRE_FALSE(other.load_or_create((dir / "other-key.pem").string()));
    const std::vector<audit::Record> records = log.records(21, "", 1000);
    audit::BundleResult made =
        audit::make_bundle(20, records.front().previous, records, "2026-11-01T00:00:20Z",
                           "2026-11-25T10:00:00Z", false, std::nullopt, signer);
    REQUIRE_MESSAGE(made.bundle, made.error);
    contents = *made.bundle;
    bundle = (dir / "export.tar.gz").string();
    REQUIRE_FALSE(audit::write_bundle(bundle, contents));
    pubkey = (dir / "pubkey.pem").string();
    std::ofstream(pubkey) << signer.public_pem();
    other_key = (dir / "other.pem").string();
    std::ofstream(other_key) << other.public_pem();
  }
  ~Exported() { std::filesystem::remove_all(dir); }
};

// As main.cpp will call it: `sekishoctl audit verify ARGS...`.
Run verify(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"audit", "verify"});
  return testing::run_command(run_audit_verify_bundle, argv,
                              {{"bundle", "pubkey", "since", "kind"}, {}});
}

}  // namespace

TEST_CASE("audit verify --bundle: an intact bundle, exit 0") {
  Exported exported;
  Run run = verify({"--bundle", exported.bundle, "--pubkey", exported.pubkey});
  CHECK(run.code == kExitOk);
  CHECK(run.err.empty());
  CHECK(run.out == "bundle " + exported.bundle +
                       ": 100 records (seq 21..120) since 2026-11-01T00:00:20Z, chain intact, "
                       "sealed 2026-11-25T10:00:00Z (clock NOT synchronised: that time may be "
                       "wrong), anchor and since signed, verifies with " +
                       exported.pubkey + "\n");

  run = verify({"--json", "--bundle=" + exported.bundle, "--pubkey", exported.pubkey});
  CHECK(run.code == kExitOk);
  const nlohmann::json out = nlohmann::json::parse(run.out);
  CHECK(out["ok"] == true);
  CHECK(out["records"] == 100);
  CHECK(out["first_seq"] == 21);
  CHECK(out["last_seq"] == 120);
  CHECK(out["first_bad"].is_null());
  CHECK(out["reason"] == "");
  CHECK(out["anchor"]["seq"] == 20);
  CHECK(out["checkpoint"]["seq"] == 120);
  CHECK(out["checkpoint"]["time"] == "2026-11-25T10:00:00Z");
  CHECK(out["checkpoint"]["clock_synchronised"] == false);
  CHECK(out["checkpoint"]["hash"].get<std::string>().size() == 64);
  CHECK(out["since"] == "2026-11-01T00:00:20Z");
  CHECK(out["log_first_bad"].is_null());
}

TEST_CASE("audit verify --bundle: tampered, corrupt or signed by another key, exit 1") {
  Exported exported;
  // A removed line: the first bad record is named.
  audit::Bundle tampered = exported.contents;
  const std::size_t third =
      tampered.records_jsonl.find('\n', tampered.records_jsonl.find('\n') + 1);
  const std::size_t fourth = tampered.records_jsonl.find('\n', third + 1);
  tampered.records_jsonl.erase(third + 1, fourth - third);
  const std::string path = (exported.dir / "tampered.tar.gz").string();
  REQUIRE_FALSE(audit::write_bundle(path, tampered));
  Run run = verify({"--bundle", path, "--pubkey", exported.pubkey});
  CHECK(run.code == kExitNegative);
  CHECK(run.out == "bundle " + path +
                       " TAMPERED: record 23 is missing where record 24 is (removed or out of "
                       "order)\n");
  run = verify({"--bundle", path, "--pubkey", exported.pubkey, "--json"});
  CHECK(run.code == kExitNegative);
  nlohmann::json out = nlohmann::json::parse(run.out);
  CHECK(out["ok"] == false);
  CHECK(out["first_bad"] == 23);
  CHECK(out["first_seq"] == 21);
  CHECK(out["last_seq"].is_null());

  run = verify({"--bundle", exported.bundle, "--pubkey", exported.other_key});
  CHECK(run.code == kExitNegative);
  CHECK(run.out.find("TAMPERED: the seal's signature does not verify with this public key") !=
        std::string::npos);

  // Not a gzip file at all: tampered too, not a usage error.
  run = verify({"--bundle", exported.pubkey, "--pubkey", exported.pubkey, "--json"});
  CHECK(run.code == kExitNegative);
  out = nlohmann::json::parse(run.out);
  CHECK(out["reason"] == "not a gzip file");
  CHECK(out["checkpoint"].is_null());
  CHECK(out["records"] == 0);
}

TEST_CASE("audit verify --bundle: a bad command line or an unreadable FILE, exit 2") {
  Exported exported;
  Run run = verify({"--bundle", exported.bundle});
  CHECK(run.code == kExitUsage);
  CHECK(run.err.find("--pubkey FILE is needed") != std::string::npos);
  run = verify({"--pubkey", exported.pubkey});
  CHECK(run.code == kExitUsage);
  CHECK(run.err.find("--bundle FILE is needed") != std::string::npos);
  run = verify({"--bundle", exported.bundle, "--pubkey", exported.pubkey, "extra"});
  CHECK(run.code == kExitUsage);

  const std::string missing = (exported.dir / "missing.tar.gz").string();
  run = verify({"--bundle", missing, "--pubkey", exported.pubkey});
  CHECK(run.code == kExitUsage);
  CHECK(run.out.empty());
  CHECK(run.err == "sekishoctl audit verify: cannot read the bundle " + missing +
                       ": No such file or directory\n");
  run = verify({"--bundle", exported.dir.string(), "--pubkey", exported.pubkey});
  CHECK(run.code == kExitUsage);
  run = verify({"--bundle", exported.bundle, "--pubkey", missing});
  CHECK(run.code == kExitUsage);
  CHECK(run.err.find("cannot read the public key") != std::string::npos);
  // The private key, or the bundle, given as the public key.
  for (const std::string& not_a_key : {(exported.dir / "key.pem").string(), exported.bundle}) {
    run = verify({"--bundle", exported.bundle, "--pubkey", not_a_key});
    CHECK(run.code == kExitUsage);
    CHECK(run.err.find("is not an Ed25519 public key") != std::string::npos);
  }
  if (::geteuid() != 0) {  // root reads anything
    ::chmod(exported.bundle.c_str(), 0);
    run = verify({"--bundle", exported.bundle, "--pubkey", exported.pubkey});
    CHECK(run.code == kExitUsage);
    CHECK(run.err.find("Permission denied") != std::string::npos);
  }
}

TEST_CASE("audit verify --bundle: an empty export") {
  Exported exported;
  audit::AuditLog log;
  REQUIRE_FALSE(log.open((exported.dir / "audit.db").string()));
  audit::Signer signer;
  REQUIRE_FALSE(signer.load_or_create((exported.dir / "key.pem").string()));
  const audit::Record newest = log.records(120, "", 1).at(0);
  audit::BundleResult made = audit::make_bundle(newest.seq, newest.hash, {}, "2026-11-25T10:00:00Z",
                                                "2026-11-25T11:00:00Z", true, std::nullopt, signer);
  REQUIRE(made.bundle);
  const std::string path = (exported.dir / "empty.tar.gz").string();
  REQUIRE_FALSE(audit::write_bundle(path, *made.bundle));
  Run run = verify({"--bundle", path, "--pubkey", exported.pubkey});
  CHECK(run.code == kExitOk);
  CHECK(run.out == "bundle " + path +
                       ": no records since 2026-11-25T10:00:00Z (none after seq 120), sealed "
                       "2026-11-25T11:00:00Z (clock synchronised), anchor and since signed, "
                       "verifies with " +
                       exported.pubkey + "\n");
}
