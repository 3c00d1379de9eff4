// `sekishoctl decommission`, in-process, on a box made in a temporary directory: a state
// directory with a real audit log and signing key, a configuration directory with a policy
// that names its key files (one of them outside both directories).

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/bundle.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/common/state_lock.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "policy/load.hpp"
#include "tests/audit/bundle_fixture.hpp"
#include "tests/ctl/run_command.hpp"

using namespace sekisho;
using namespace sekisho::ctl;
namespace fs = std::filesystem;

namespace {

using testing::Run;

constexpr std::chrono::sys_seconds kNow =
    std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + std::chrono::hours{22};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A VPN whose private key is in CONFIG/keys, and a cloud bridge whose TLS key lives outside
// both directories: decommission must find that one through the policy.
std::string policy_text(const fs::path& config, const fs::path& elsewhere) {
  return "version: 1\n"
         "gateway: {name: decom-gw, timezone: Asia/Tokyo}\n"
         "zones:\n"
         "  ot: {interfaces: [lan0], networks: [192.0.2.0/24]}\n"
         "  wan: {interfaces: [wan0]}\n"
         "  maint: {vpn: maint}\n"
         "hosts:\n"
         "  cloud-broker: {address: 203.0.113.10}\n"
         "wan: {interface: wan0}\n"
         "vpn:\n"
         "  maint:\n"
         "    interface: wg0\n"
         "    listen_port: 51820\n"
         "    address: 198.18.100.1/24\n"
         "    private_key_file: " +
         (config / "keys/wg0.key").string() +
         "\n"
         "    peers:\n"
         "      vendor-a:\n"
         "        public_key: \"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\"\n"
         "        address: 198.18.100.2\n"
         "cloud:\n"
         "  mqtt:\n"
         "    broker: cloud-broker\n"
         "    tls:\n"
         "      ca_file: " +
         (config / "cloud/ca.pem").string() +
         "\n"
         "      cert_file: " +
         (config / "cloud/x.pem").string() +
         "\n"
         "      key_file: " +
         (elsewhere / "cloud.key").string() +
         "\n"
         "    local_broker: 192.0.2.1:1883\n"
         "    uplink: [\"line1/+/telemetry\"]\n";
}

struct Box {
  fs::path root, state, config, elsewhere, keep;
  std::string out, control;
  std::string public_pem;
  std::map<std::string, std::string> originals;  // every file to destroy: path -> content
  std::set<std::string> keys;                    // the ones to overwrite

  Box() {
    char name[] = "/tmp/sekisho-decommission-XXXXXX";
    root = fs::canonical(::mkdtemp(name));
    state = root / "state";
    config = root / "etc";
    elsewhere = root / "elsewhere";
    keep = root / "keep";
    out = (root / "export.tar.gz").string();
    control = (root / "control.sock").string();  // nobody listens there
    fs::create_directories(state);
    fs::create_directories(keep);
    {
      audit::AuditLog log;
      REQUIRE_FALSE(log.open((state / "audit.db").string()));
      REQUIRE(audit::testing::fill_log(log, 30));
      audit::Signer signer;
      REQUIRE_FALSE(signer.load_or_create((state / "audit-key.pem").string()));
      REQUIRE_FALSE(log.add_checkpoint(signer, "2026-11-01T00:00:30Z", false));
      public_pem = signer.public_pem();
    }  // closed: sqlite folds its write-ahead log back into audit.db
    write_file(state / "last-good.yaml", "version: 1\n");
    write_file(config / "policy.yaml", policy_text(config, elsewhere));
    const policy::LoadResult loaded = policy::load_policy_file((config / "policy.yaml").string());
    REQUIRE_MESSAGE(loaded.policy, "the test's policy must load, or its key files are not found");
    write_file(config / "keys/wg0.key", "wg private key bytes\n");
    write_file(config / "cloud/x.pem", "-----BEGIN CERTIFICATE-----\nx\n");
    write_file(config / "cloud/ca.pem", "-----BEGIN CERTIFICATE-----\nca\n");
    write_file(config / "hooks/h", "#!/bin/sh\nexit 0\n");
    write_file(elsewhere / "cloud.key", "cloud tls key\n");
    write_file(keep / "secret.txt", "not the gateway's\n");
    fs::create_symlink(keep / "secret.txt", config / "secret-link");
    // Hard links outside: they show what happened to the inodes after the names are gone.
    fs::create_hard_link(config / "keys/wg0.key", keep / "wg0.key.link");
    fs::create_hard_link(config / "hooks/h", keep / "h.link");
    for (const fs::path& dir : {state, config}) {
      for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file() && !entry.is_symlink()) {
          originals[entry.path().string()] = read_file(entry.path());
        }
      }
    }
    originals[(elsewhere / "cloud.key").string()] = read_file(elsewhere / "cloud.key");
    keys = {(state / "audit-key.pem").string(), (config / "keys/wg0.key").string(),
            (config / "cloud/x.pem").string(), (config / "cloud/ca.pem").string(),
            (elsewhere / "cloud.key").string()};
  }
  ~Box() { fs::remove_all(root); }

  std::string how(const std::string& path) const {
    return keys.contains(path) ? "overwritten+unlinked" : "unlinked";
  }

  // Every file still there with its content, and no export written.
  void check_untouched() const {
    // No structured bindings: clang 14 cannot capture them in CHECK_MESSAGE's lambda.
    for (const auto& original : originals) {
      const std::string& path = original.first;
      const std::string& content = original.second;
      CHECK_MESSAGE(read_file(path) == content, path);
    }
    CHECK(fs::is_symlink(config / "secret-link"));
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(fs::exists(out + ".pub.pem"));
  }
};

// "BYTES  HOW  PATH\n", as the dry run and (after the SHA-256) the report print a file.
std::string report_line(std::size_t bytes, const std::string& how, const std::string& path) {
  std::string line = std::to_string(bytes);
  line.append("  ").append(how).append("  ").append(path).append("\n");
  return line;
}

const OptionSpec kOptions{{"out", "state-dir", "config-dir"}, {"yes"}};

Run decommission(const Box& box, std::vector<std::string> more = {}) {
  std::vector<std::string> argv = {"decommission",
                                   "--state-dir",
                                   box.state.string(),
                                   "--config-dir",
                                   box.config.string(),
                                   "--control",
                                   box.control,
                                   "--out",
                                   box.out};
  argv.insert(argv.end(), more.begin(), more.end());
  return testing::run_command(run_decommission, argv, kOptions, kNow);
}

std::vector<nlohmann::json> bundle_records(const audit::Bundle& bundle) {
  std::vector<nlohmann::json> records;
  std::istringstream lines(bundle.records_jsonl);
  for (std::string line; std::getline(lines, line);) {
    records.push_back(nlohmann::json::parse(line));
  }
  return records;
}

}  // namespace

TEST_CASE("decommission without --yes: a dry run that lists every file and destroys nothing") {
  Box box;
  Run run = decommission(box);
  CHECK(run.code == kExitOk);
  for (const auto& original : box.originals) {
    const std::string& path = original.first;
    const std::string& content = original.second;
    const std::string line = "  " + report_line(content.size(), box.how(path), path);
    CHECK_MESSAGE(run.out.find(line) != std::string::npos, line << " is not in\n" << run.out);
  }
  CHECK(run.out.find("unlinked  " + (box.config / "secret-link").string()) != std::string::npos);
  CHECK(run.out.find("30 records and a decommission record, chain intact") != std::string::npos);
  CHECK(run.out.find("nothing was destroyed; run again with --yes to decommission") !=
        std::string::npos);
  box.check_untouched();

  run = decommission(box, {"--json"});
  REQUIRE(run.code == kExitOk);
  const nlohmann::json json = nlohmann::json::parse(run.out);
  CHECK(json.at("dry_run") == true);
  CHECK(json.at("export").at("records") == 31);
  // The originals, the symlink, and the lock file the command itself holds.
  CHECK(json.at("destroy").size() == box.originals.size() + 2);
  box.check_untouched();
}

TEST_CASE("decommission refuses while sekishod runs: 65, nothing destroyed") {
  Box box;
  SUBCASE("it holds the state lock") {
    StateLock daemon;
    REQUIRE_FALSE(daemon.acquire(box.state.string()));
    Run run = decommission(box, {"--yes"});
    CHECK(run.code == kExitInvalid);
    CHECK(run.err.find("sekishod is running (it holds " + box.state.string() +
                       "/sekishod.lock); stop it first: systemctl stop sekishod") !=
          std::string::npos);
    box.check_untouched();
  }
  SUBCASE("its control socket answers") {
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", box.control.c_str());
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    Run run = decommission(box, {"--yes"});
    ::close(listener);
    CHECK(run.code == kExitInvalid);
    CHECK(run.err.find("it answers on " + box.control) != std::string::npos);
    box.check_untouched();
  }
}

TEST_CASE("decommission --yes: a verified export, then every file and both directories gone") {
  Box box;
  Run run = decommission(box, {"--yes"});
  REQUIRE_MESSAGE(run.code == kExitOk, run.err);

  // The export: 0600, verifies with the key it printed and wrote next to it.
  struct stat status {};
  REQUIRE(::stat(box.out.c_str(), &status) == 0);
  CHECK((status.st_mode & 0777) == 0600);
  const std::string written_pem = read_file(box.out + ".pub.pem");
  CHECK(written_pem == box.public_pem);
  CHECK(run.out.find(box.public_pem) != std::string::npos);
  CHECK(run.out.find("sha256 " + sha256_hex(read_file(box.out))) != std::string::npos);
  CHECK(run.out.find("sekishoctl audit verify --bundle " + box.out + " --pubkey " + box.out +
                     ".pub.pem") != std::string::npos);
  const audit::BundleResult read = audit::read_bundle(box.out);
  REQUIRE_MESSAGE(read.bundle, read.error);
  const audit::VerifyResult verified = audit::verify_bundle(*read.bundle, written_pem);
  CHECK_MESSAGE(verified.ok, verified.reason);
  CHECK(verified.records == 31);

  // From the first record on, the last one is the decommission.
  const std::vector<nlohmann::json> records = bundle_records(*read.bundle);
  REQUIRE(records.size() == 31);
  CHECK(records.front().at("seq") == 1);
  const nlohmann::json& last = records.back();
  CHECK(last.at("kind") == "decommission");
  CHECK(last.at("time") == "2026-11-25T22:00:00Z");
  CHECK(last.at("actor").at("uid") == static_cast<std::int64_t>(::geteuid()));
  CHECK(last.at("details").at("host").is_string());
  // The originals, the symlink and the lock file.
  CHECK(last.at("details").at("files") == box.originals.size() + 2);

  // Each file's line carries the SHA-256 of what it held; audit.db took the new record.
  for (const auto& original : box.originals) {
    const std::string& path = original.first;
    const std::string& content = original.second;
    if (path == (box.state / "audit.db").string()) {
      CHECK(run.out.find("  unlinked  " + path + "\n") != std::string::npos);
      continue;
    }
    const std::string line =
        sha256_hex(content) + "  " + report_line(content.size(), box.how(path), path);
    CHECK_MESSAGE(run.out.find(line) != std::string::npos, line << " is not in\n" << run.out);
  }
  CHECK(run.out.find("flash storage (SSD, eMMC, SD cards) remaps writes") != std::string::npos);

  // Gone: every file, both directories, the key outside them; not what a link pointed to.
  for (const auto& original : box.originals) {
    CHECK_MESSAGE(!fs::exists(fs::symlink_status(original.first)), original.first);
  }
  CHECK_FALSE(fs::exists(fs::symlink_status(box.state)));
  CHECK_FALSE(fs::exists(fs::symlink_status(box.config)));
  CHECK(fs::is_directory(box.elsewhere));
  CHECK(read_file(box.keep / "secret.txt") == "not the gateway's\n");
  // The key's inode was overwritten in place (same length, other bytes); the hook was only
  // unlinked.
  const std::string key_after = read_file(box.keep / "wg0.key.link");
  CHECK(key_after.size() == std::string("wg private key bytes\n").size());
  CHECK(key_after != "wg private key bytes\n");
  CHECK(read_file(box.keep / "h.link") == "#!/bin/sh\nexit 0\n");
}

TEST_CASE("decommission --yes --json") {
  Box box;
  Run run = decommission(box, {"--yes", "--json"});
  REQUIRE_MESSAGE(run.code == kExitOk, run.err);
  const nlohmann::json json = nlohmann::json::parse(run.out);
  CHECK(json.at("export").at("path") == box.out);
  CHECK(json.at("export").at("sha256") == sha256_hex(read_file(box.out)));
  CHECK(json.at("export").at("records") == 31);
  CHECK(json.at("public_key") == box.public_pem);
  CHECK(json.at("warning").get<std::string>().find("blkdiscard --secure") != std::string::npos);
  std::map<std::string, nlohmann::json> destroyed;
  for (const nlohmann::json& file : json.at("destroyed")) {
    destroyed[file.at("path").get<std::string>()] = file;
  }
  CHECK(destroyed.size() == box.originals.size() + 2);
  const std::string key = (box.elsewhere / "cloud.key").string();
  REQUIRE(destroyed.contains(key));
  CHECK(destroyed[key].at("how") == "overwritten+unlinked");
  CHECK(destroyed[key].at("sha256") == sha256_hex(box.originals[key]));
  CHECK(destroyed[key].at("bytes") == box.originals[key].size());
  const std::string hook = (box.config / "hooks/h").string();
  REQUIRE(destroyed.contains(hook));
  CHECK(destroyed[hook].at("how") == "unlinked");
}

TEST_CASE("decommission --yes with a tampered audit log: 1, nothing destroyed") {
  Box box;
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((box.state / "audit.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "UPDATE records SET details = '{\"n\":999}' WHERE seq = 5", nullptr,
                         nullptr, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_changes(db) == 1);
    sqlite3_close(db);
  }
  box.originals[(box.state / "audit.db").string()] = read_file(box.state / "audit.db");
  Run run = decommission(box, {"--yes"});
  CHECK(run.code == kExitNegative);
  CHECK(run.err.find("audit.db does not verify (record 5:") != std::string::npos);
  CHECK(run.err.find("nothing was destroyed; " + (box.state / "audit.db").string() +
                     " can be copied by hand") != std::string::npos);
  box.check_untouched();
}

TEST_CASE("decommission --out: never an existing file, never inside what is destroyed") {
  Box box;
  write_file(box.out, "an earlier export\n");
  Run run = decommission(box, {"--yes"});
  CHECK(run.code == kExitInvalid);
  CHECK(run.err.find(box.out + " exists; decommission never overwrites a file") !=
        std::string::npos);
  CHECK(read_file(box.out) == "an earlier export\n");
  fs::remove(box.out);
  box.check_untouched();

  write_file(box.out + ".pub.pem", "an earlier key\n");
  run = decommission(box, {"--yes"});
  CHECK(run.code == kExitInvalid);
  fs::remove(box.out + ".pub.pem");
  box.check_untouched();

  run = testing::run_command(
      run_decommission,
      {"decommission", "--yes", "--state-dir", box.state.string(), "--config-dir",
       box.config.string(), "--control", box.control, "--out", (box.state / "x.tar.gz").string()},
      kOptions, kNow);
  CHECK(run.code == kExitUsage);
  CHECK(run.err.find("which is destroyed") != std::string::npos);
  box.check_untouched();

  run = decommission(box, {"--yes", "stray"});
  CHECK(run.code == kExitUsage);
  box.check_untouched();
}
