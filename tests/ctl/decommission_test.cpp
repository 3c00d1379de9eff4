// `sekishoctl decommission`, in-process, on a box made in a temporary directory: a state
// directory with a real audit log and signing key, a configuration directory with a policy
// that names its key files (one of them outside both directories, which must stay).

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include <doctest/doctest.h>
#include <fcntl.h>
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
#include "daemon/sekishoctl/decommission_destroy.hpp"
#include "daemon/sekishoctl/decommission_plan.hpp"
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
// both directories: decommission must name that one, and leave it.
std::string policy_text(const fs::path& vpn_key, const fs::path& config,
                        const fs::path& cloud_key) {
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
         vpn_key.string() +
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
         cloud_key.string() +
         "\n"
         "    local_broker: 192.0.2.1:1883\n"
         "    uplink: [\"line1/+/telemetry\"]\n";
}

struct Box {
  fs::path root, state, config, elsewhere, keep;
  fs::path broker_store;  // named by --broker-store; made only where a test needs it
  std::string out, control;
  std::string public_pem;
  std::map<std::string, std::string> originals;  // every file to destroy: path -> content
  std::set<std::string> keys;                    // the ones to overwrite
  std::map<std::string, std::string> outside;    // files to leave as they are
  int wg0_key = -1;  // CONFIG/keys/wg0.key, open: what its inode holds after it is gone

  Box() {
    char name[] = "/tmp/sekisho-decommission-XXXXXX";
    root = fs::canonical(::mkdtemp(name));
    state = root / "state";
    config = root / "etc";
    elsewhere = root / "elsewhere";
    keep = root / "keep";
    broker_store = root / "broker-store";
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
    write_file(config / "policy.yaml",
               policy_text(config / "keys/wg0.key", config, elsewhere / "cloud.key"));
    const policy::LoadResult loaded = policy::load_policy_file((config / "policy.yaml").string());
    REQUIRE_MESSAGE(loaded.policy, "the test's policy must load, or its key files are not found");
    write_file(config / "keys/wg0.key", "wg private key bytes\n");
    write_file(config / "cloud/x.pem", "-----BEGIN CERTIFICATE-----\nx\n");
    write_file(config / "cloud/ca.pem", "-----BEGIN CERTIFICATE-----\nca\n");
    write_file(config / "hooks/h", "#!/bin/sh\nexit 0\n");
    write_file(elsewhere / "cloud.key", "cloud tls key\n");
    write_file(keep / "secret.txt", "not the gateway's\n");
    fs::create_symlink(keep / "secret.txt", config / "secret-link");
    // What happened to the inodes after the names are gone: a hard link outside for a
    // file that is only unlinked, an open descriptor for a key (a key with a second name
    // is not overwritten).
    fs::create_hard_link(config / "hooks/h", keep / "h.link");
    wg0_key = ::open((config / "keys/wg0.key").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(wg0_key >= 0);
    for (const fs::path& dir : {state, config}) {
      for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file() && !entry.is_symlink()) {
          originals[entry.path().string()] = read_file(entry.path());
        }
      }
    }
    for (const fs::path& path : {elsewhere / "cloud.key", keep / "secret.txt"}) {
      outside[path.string()] = read_file(path);
    }
    keys = {(state / "audit-key.pem").string(), (config / "keys/wg0.key").string(),
            (config / "cloud/x.pem").string(), (config / "cloud/ca.pem").string()};
  }
  ~Box() {
    ::close(wg0_key);
    fs::remove_all(root);
  }

  // Every file outside the two directories as it was.
  void check_outside() const {
    for (const auto& file : outside) {
      const std::string& path = file.first;
      CHECK_MESSAGE(read_file(path) == file.second, path);
    }
  }

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
    check_outside();
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

Run decommission_box(const Box& box, std::vector<std::string> more = {}) {
  std::vector<std::string> argv = {"decommission",
                                   "--state-dir",
                                   box.state.string(),
                                   "--config-dir",
                                   box.config.string(),
                                   "--control",
                                   box.control,
                                   "--out",
                                   box.out,
                                   "--broker-store",
                                   box.broker_store.string()};
  argv.insert(argv.end(), more.begin(), more.end());
  return testing::run_command(run_decommission, argv, testing::options_of("decommission"), kNow);
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
  Run run = decommission_box(box);
  CHECK(run.code == kExitOk);
  for (const auto& original : box.originals) {
    const std::string& path = original.first;
    const std::string& content = original.second;
    const std::string line = "  " + report_line(content.size(), box.how(path), path);
    CHECK_MESSAGE(run.out.find(line) != std::string::npos, line << " is not in\n" << run.out);
  }
  CHECK(run.out.find("unlinked  " + (box.config / "secret-link").string()) != std::string::npos);
  // The cloud key the policy names outside both directories: listed, with the reason.
  const std::string cloud_key = (box.elsewhere / "cloud.key").string();
  CHECK_MESSAGE(
      run.out.find("would leave 1 untouched:\n  " + cloud_key +
                   ": named by the policy as the cloud bridge's TLS key, outside " +
                   box.config.string() + " and " + box.state.string()) != std::string::npos,
      run.out);
  CHECK(run.out.find("unlinked  " + cloud_key) == std::string::npos);
  CHECK(run.out.find("30 records and a decommission record, chain intact") != std::string::npos);
  CHECK(run.out.find("nothing was destroyed; run again with --yes to decommission") !=
        std::string::npos);
  box.check_untouched();

  run = decommission_box(box, {"--json"});
  REQUIRE(run.code == kExitOk);
  const nlohmann::json json = nlohmann::json::parse(run.out);
  CHECK(json.at("dry_run") == true);
  CHECK(json.at("export").at("records") == 31);
  // The originals, the symlink, and the lock file the command itself holds.
  CHECK(json.at("destroy").size() == box.originals.size() + 2);
  REQUIRE(json.at("left").size() == 1);
  CHECK(json.at("left")[0].at("path") == cloud_key);
  CHECK(json.at("left")[0].at("reason").get<std::string>().find(
            "named by the policy as the cloud bridge's TLS key") != std::string::npos);
  box.check_untouched();
}

TEST_CASE("decommission refuses while sekishod runs: 65, nothing destroyed") {
  Box box;
  SUBCASE("it holds the state lock") {
    StateLock daemon;
    REQUIRE_FALSE(daemon.acquire(box.state.string()));
    Run run = decommission_box(box, {"--yes"});
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
    Run run = decommission_box(box, {"--yes"});
    ::close(listener);
    CHECK(run.code == kExitInvalid);
    CHECK(run.err.find("it answers on " + box.control) != std::string::npos);
    box.check_untouched();
  }
}

TEST_CASE("decommission --yes: a verified export, then every file and both directories gone") {
  Box box;
  Run run = decommission_box(box, {"--yes"});
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

  // Gone: every file and both directories. Left: the key the policy names outside them
  // (and said so), what a link pointed to.
  for (const auto& original : box.originals) {
    CHECK_MESSAGE(!fs::exists(fs::symlink_status(original.first)), original.first);
  }
  CHECK_FALSE(fs::exists(fs::symlink_status(box.state)));
  CHECK_FALSE(fs::exists(fs::symlink_status(box.config)));
  box.check_outside();
  CHECK(run.out.find("left 1 untouched:\n  " + (box.elsewhere / "cloud.key").string() +
                     ": named by the policy as the cloud bridge's TLS key") != std::string::npos);
  // The key's inode was overwritten in place (same length, other bytes); the hook was only
  // unlinked.
  char key_after[64] = {};
  const ssize_t n = ::pread(box.wg0_key, key_after, sizeof key_after, 0);
  CHECK(n == static_cast<ssize_t>(std::string("wg private key bytes\n").size()));
  CHECK(std::string(key_after, static_cast<std::size_t>(std::max<ssize_t>(n, 0))) !=
        "wg private key bytes\n");
  CHECK(read_file(box.keep / "h.link") == "#!/bin/sh\nexit 0\n");
}

TEST_CASE("decommission --yes --json") {
  Box box;
  Run run = decommission_box(box, {"--yes", "--json"});
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
  const std::string key = (box.config / "keys/wg0.key").string();
  REQUIRE(destroyed.contains(key));
  CHECK(destroyed[key].at("how") == "overwritten+unlinked");
  CHECK(destroyed[key].at("sha256") == sha256_hex(box.originals[key]));
  CHECK(destroyed[key].at("bytes") == box.originals[key].size());
  const std::string outside_key = (box.elsewhere / "cloud.key").string();
  CHECK_FALSE(destroyed.contains(outside_key));
  REQUIRE(json.at("left").size() == 1);
  CHECK(json.at("left")[0].at("path") == outside_key);
  box.check_outside();
  const std::string hook = (box.config / "hooks/h").string();
  REQUIRE(destroyed.contains(hook));
  CHECK(destroyed[hook].at("how") == "unlinked");
}

TEST_CASE("decommission leaves the local broker's store, says why and how to remove it") {
  Box box;
  // The store is the broker's (sekisho-broker), outside both directories.
  write_file(box.broker_store / "mosquitto.db", "queued messages, sekishod's session\n");
  box.outside[(box.broker_store / "mosquitto.db").string()] =
      read_file(box.broker_store / "mosquitto.db");
  const std::string store = box.broker_store.string();
  Run run = decommission_box(box, {"--json"});
  REQUIRE_MESSAGE(run.code == kExitOk, run.err);
  nlohmann::json json = nlohmann::json::parse(run.out);
  // Sorted by path: the store, then the cloud key the policy names outside.
  REQUIRE(json.at("left").size() == 2);
  CHECK(json.at("left")[0].at("path") == store);
  const std::string reason = json.at("left")[0].at("reason").get<std::string>();
  CHECK(reason.starts_with("the local broker's message store"));
  CHECK(reason.find("outside " + box.config.string() + " and " + box.state.string()) !=
        std::string::npos);
  CHECK(reason.find("'apt-get purge sekisho' removes it, or by hand: rm -r " + store) !=
        std::string::npos);
  for (const nlohmann::json& file : json.at("destroy")) {
    CHECK_FALSE(decommission::is_under(file.at("path").get<std::string>(), store));
  }

  run = decommission_box(box, {"--yes"});
  REQUIRE_MESSAGE(run.code == kExitOk, run.err);
  CHECK_MESSAGE(run.out.find("left 2 untouched:\n  " + store +
                             ": the local broker's message store") != std::string::npos,
                run.out);
  CHECK_FALSE(fs::exists(box.state));
  box.check_outside();
}

TEST_CASE("a broker store inside the state directory is destroyed with it, not listed") {
  Box box;
  box.broker_store = box.state / "broker-store";
  write_file(box.broker_store / "mosquitto.db", "queued\n");
  Run run = decommission_box(box, {"--json"});
  REQUIRE_MESSAGE(run.code == kExitOk, run.err);
  const nlohmann::json json = nlohmann::json::parse(run.out);
  REQUIRE(json.at("left").size() == 1);  // the cloud key only
  bool listed = false;
  for (const nlohmann::json& file : json.at("destroy")) {
    listed = listed || file.at("path") == (box.broker_store / "mosquitto.db").string();
  }
  CHECK(listed);
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
  Run run = decommission_box(box, {"--yes"});
  CHECK(run.code == kExitNegative);
  CHECK(run.err.find("audit.db does not verify (record 5:") != std::string::npos);
  CHECK(run.err.find("nothing was destroyed; " + (box.state / "audit.db").string() +
                     " can be copied by hand") != std::string::npos);
  box.check_untouched();
}

TEST_CASE("decommission --out: never an existing file, never inside what is destroyed") {
  Box box;
  write_file(box.out, "an earlier export\n");
  Run run = decommission_box(box, {"--yes"});
  CHECK(run.code == kExitInvalid);
  CHECK(run.err.find(box.out + " exists; decommission never overwrites a file") !=
        std::string::npos);
  CHECK(read_file(box.out) == "an earlier export\n");
  fs::remove(box.out);
  box.check_untouched();

  write_file(box.out + ".pub.pem", "an earlier key\n");
  run = decommission_box(box, {"--yes"});
  CHECK(run.code == kExitInvalid);
  fs::remove(box.out + ".pub.pem");
  box.check_untouched();

  run = testing::run_command(
      run_decommission,
      {"decommission", "--yes", "--state-dir", box.state.string(), "--config-dir",
       box.config.string(), "--control", box.control, "--out", (box.state / "x.tar.gz").string()},
      testing::options_of("decommission"), kNow);
  CHECK(run.code == kExitUsage);
  CHECK(run.err.find("which is destroyed") != std::string::npos);
  box.check_untouched();

  run = decommission_box(box, {"--yes", "stray"});
  CHECK(run.code == kExitUsage);
  box.check_untouched();
}

TEST_CASE("decommission refuses a system directory (a slip such as --config-dir /etc)") {
  Box box;
  for (const std::string dir : {"/etc", "/etc/", "/", "/var/lib", "/var", "/usr/../etc"}) {
    for (const bool as_config : {true, false}) {
      std::vector<std::string> argv = {"decommission",
                                       "--state-dir",
                                       as_config ? box.state.string() : dir,
                                       "--config-dir",
                                       as_config ? dir : box.config.string(),
                                       "--control",
                                       box.control,
                                       "--out",
                                       box.out};
      Run run =
          testing::run_command(run_decommission, argv, testing::options_of("decommission"), kNow);
      CAPTURE(dir);
      CAPTURE(as_config);
      CHECK(run.code == kExitUsage);
      CHECK(run.err.find("a directory of the system") != std::string::npos);
    }
  }
  box.check_untouched();
  CHECK(decommission::system_directory_in(box.state.string()) == std::nullopt);
  CHECK(decommission::system_directory_in("/var/lib/sekisho") == std::nullopt);
  CHECK(decommission::system_directory_in("/etc/sekisho") == std::nullopt);
}

TEST_CASE("decommission destroys nothing outside its directories, whatever points there") {
  Box box;
  // The policy names its cloud key through a directory symlink inside CONFIG that leads
  // outside; CONFIG also holds a symlink to a directory outside, and a key with a second
  // name outside (a hard link: overwriting it would change that file too).
  fs::create_directories(box.keep / "dir");
  write_file(box.keep / "dir/kept.txt", "kept\n");
  fs::create_directory_symlink(box.keep / "dir", box.config / "dir-link");
  fs::create_directory_symlink(box.elsewhere, box.config / "keys-elsewhere");
  write_file(box.config / "policy.yaml", policy_text(box.config / "keys/wg0.key", box.config,
                                                     box.config / "keys-elsewhere/cloud.key"));
  write_file(box.config / "keys/shared.key", "shared key\n");
  fs::create_hard_link(box.config / "keys/shared.key", box.keep / "shared.key");
  box.outside[(box.keep / "dir/kept.txt").string()] = "kept\n";
  box.outside[(box.keep / "shared.key").string()] = "shared key\n";

  Run run = decommission_box(box, {"--yes", "--json"});
  REQUIRE_MESSAGE(run.code == kExitOk, run.err);
  const nlohmann::json json = nlohmann::json::parse(run.out);
  box.check_outside();
  CHECK(fs::is_directory(box.keep / "dir"));
  CHECK_FALSE(fs::exists(fs::symlink_status(box.config)));
  // The key through the symlink is named by its real path, and left.
  REQUIRE(json.at("left").size() == 1);
  CHECK(json.at("left")[0].at("path") == (box.elsewhere / "cloud.key").string());
  std::map<std::string, std::string> how;
  for (const nlohmann::json& file : json.at("destroyed")) {
    how[file.at("path").get<std::string>()] = file.at("how").get<std::string>();
  }
  // The links themselves went; the shared key was unlinked, not overwritten, and said why.
  CHECK(how[(box.config / "dir-link").string()] == "unlinked");
  CHECK(how[(box.config / "keys-elsewhere").string()] == "unlinked");
  CHECK(how[(box.config / "keys/shared.key").string()] == "unlinked");
  CHECK(how[(box.config / "keys/wg0.key").string()] == "overwritten+unlinked");
  CHECK(run.err.find((box.config / "keys/shared.key").string() +
                     " has 2 hard links: its other names may lie outside") != std::string::npos);
}

TEST_CASE("a directory turned into a symlink after the plan stops the destruction there") {
  Box box;
  const decommission::Settings settings{box.state.string(), box.config.string(), box.out,
                                        box.out + ".pub.pem", box.broker_store.string()};
  decommission::Plan plan;
  REQUIRE_FALSE(decommission::make_plan(settings, plan));
  // CONFIG/hooks becomes a symlink to a directory outside holding a file of the same name.
  fs::rename(box.config / "hooks", box.root / "hooks-moved");
  write_file(box.keep / "hooks/h", "outside\n");
  fs::create_directory_symlink(box.keep / "hooks", box.config / "hooks");
  std::vector<decommission::Destroyed> destroyed;
  std::vector<std::string> removed;
  const decommission::Result failed = decommission::destroy(plan, destroyed, removed);
  REQUIRE(failed);
  CHECK(failed->code == kExitNegative);
  CHECK_MESSAGE(failed->message == (box.config / "hooks").string() +
                                       " is no longer reached inside " + box.config.string() +
                                       " without a symbolic link or a mount point: it changed "
                                       "during the decommission",
                failed->message);
  CHECK(read_file(box.keep / "hooks/h") == "outside\n");
  CHECK(fs::is_symlink(box.config / "hooks"));
}
