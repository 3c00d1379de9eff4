// The local broker's credentials and files as sekishod keeps them (daemon/cloud/local_broker):
// a login made once and kept, files that hold secrets no one else may read, the broker's
// directory refused unless it is as the package makes it, files rewritten only when their
// content changes, passwords that replace each other, and `generation` written again while
// the broker has not applied it. Runs as any user (sekishod's user is then the test's).

#include "daemon/cloud/local_broker.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/cloud/broker_password.hpp"
#include "policy/load.hpp"

using namespace sekisho::cloud;
namespace fs = std::filesystem;

namespace {

// A fresh directory under /tmp, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sekisho-broker-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write(const fs::path& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

// The hash `user` has in a password file ("user:hash" lines), or "" without one.
std::string stored_hash(const fs::path& file, const std::string& user) {
  std::istringstream in(read(file));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(user + ":")) {
      return line.substr(user.size() + 1);
    }
  }
  return "";
}

struct stat stat_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info;
}

constexpr const char* kPolicy = R"(version: 1
zones:
  ot: { interfaces: [lan0], networks: [192.0.2.0/24] }
  wan: { interfaces: [wan0] }
hosts:
  plc-1: { address: 192.0.2.10 }
  plc-2: { address: 192.0.2.11 }
  cloud-broker: { addresses: [203.0.113.10] }
rules: []
cloud:
  mqtt:
    broker: cloud-broker
    tls: { ca_file: /etc/sekisho/cloud/ca.pem, cert_file: /etc/sekisho/c.pem, key_file: /etc/sekisho/c.key }
    local_broker: 192.0.2.1:1883
    publishers: [PUBLISHERS]
    uplink: ["factory/+/telemetry"]
    downlink: ["commands/factory/#"]
)";

sekisho::policy::Policy policy_with(const std::string& publishers) {
  std::string text = kPolicy;
  text.replace(text.find("PUBLISHERS"), 10, publishers);
  sekisho::policy::LoadResult result = sekisho::policy::load_policy_text(text, "test.yaml");
  REQUIRE(result.policy);
  return std::move(*result.policy);
}

// The state directory and the broker's directory as the package makes it (setgid, 2750).
struct Box {
  TempDir root;
  fs::path state = root.path / "state";
  fs::path dir = root.path / "broker";
  BrokerPaths paths{dir.string(), (root.path / "run/mqtt.sock").string(),
                    (root.path / "store").string()};
  Box() {
    fs::create_directories(state);
    fs::create_directories(dir);
    ::chmod(dir.c_str(), 02750);
  }
};

}  // namespace

TEST_CASE("sekishod's login: made once, kept, secret, replaced when others could read it") {
  Box box;
  std::vector<nlohmann::json> events;
  LocalBroker first(box.paths, box.state.string());
  REQUIRE_FALSE(first.open(events));
  REQUIRE(events.size() == 1);
  // The record names the role, never the (secret) user name.
  CHECK(events[0] == nlohmann::json{{"user", "sekishod"}, {"action", "made"}});
  const std::string user = first.username();
  CHECK(user.size() == 29);
  CHECK(user.starts_with("sekishod-"));
  CHECK(first.password().size() == 32);
  const fs::path login = box.state / "broker-login.key";
  const fs::path store = box.state / "broker-passwords";
  CHECK(read(login) == user + "\n" + first.password() + "\n");
  CHECK((stat_of(login).st_mode & 07777) == 0600);
  CHECK((stat_of(store).st_mode & 07777) == 0600);
  CHECK(password_matches(stored_hash(store, user), first.password()));
  CHECK(read(store).find(first.password()) == std::string::npos);

  // A restart reads the same login and writes nothing.
  const std::string store_before = read(store);
  const ino_t store_inode = stat_of(store).st_ino;
  events.clear();
  LocalBroker again(box.paths, box.state.string());
  REQUIRE_FALSE(again.open(events));
  CHECK(events.empty());
  CHECK(again.username() == user);
  CHECK(again.password() == first.password());
  CHECK(stat_of(store).st_ino == store_inode);

  // Readable by others: not trusted, a new login replaces it (and its hash the old one).
  ::chmod(login.c_str(), 0644);
  events.clear();
  LocalBroker replaced(box.paths, box.state.string());
  REQUIRE_FALSE(replaced.open(events));
  REQUIRE(events.size() == 1);
  CHECK(events[0]["action"] == "replaced");
  CHECK(events[0]["why"].get<std::string>().find("mode 0644") != std::string::npos);
  CHECK(replaced.username() != user);
  CHECK(replaced.password() != first.password());
  CHECK((stat_of(login).st_mode & 07777) == 0600);
  CHECK(read(store).find(user + ":") == std::string::npos);
  CHECK(read(store).find(replaced.username() + ":") != std::string::npos);

  // Garbage in the login file: replaced too.
  write(login, "sekishod\nshort\n", 0600);
  events.clear();
  LocalBroker garbage(box.paths, box.state.string());
  REQUIRE_FALSE(garbage.open(events));
  CHECK(events.at(0)["action"] == "replaced");
  CHECK(garbage.username().starts_with("sekishod-"));
}

TEST_CASE("a store that does not read is left for someone to look at, and nothing is written") {
  Box box;
  write(box.state / "broker-passwords", "plc-1:not a hash\n", 0600);
  std::vector<nlohmann::json> events;
  LocalBroker broker(box.paths, box.state.string());
  CHECK(broker.open(events));
  CHECK(broker.problem().find("line 1") != std::string::npos);
  CHECK(read(box.state / "broker-passwords") == "plc-1:not a hash\n");
  CHECK_FALSE(fs::exists(box.state / "broker-login.key"));
  CHECK(broker.configure(policy_with("plc-1")));
  CHECK_FALSE(fs::exists(box.dir / "mosquitto.conf"));
  // Readable by others: the same.
  write(box.state / "broker-passwords", "", 0640);
  LocalBroker open_to_others(box.paths, box.state.string());
  CHECK(open_to_others.open(events));
  CHECK(open_to_others.problem().find("mode 0640") != std::string::npos);
}

TEST_CASE("the broker's directory must be as the package makes it") {
  Box box;
  std::vector<nlohmann::json> events;
  LocalBroker broker(box.paths, box.state.string());
  REQUIRE_FALSE(broker.open(events));
  const sekisho::policy::Policy policy = policy_with("plc-1");
  for (mode_t mode : {0750, 02770, 02757}) {
    CAPTURE(mode);
    ::chmod(box.dir.c_str(), mode);
    CHECK(broker.configure(policy));
    CHECK_FALSE(broker.problem().empty());
    CHECK_FALSE(fs::exists(box.dir / "acl"));
  }
  fs::remove(box.dir);
  CHECK(broker.configure(policy) == std::errc::no_such_file_or_directory);
  fs::create_directory(box.dir);
  ::chmod(box.dir.c_str(), 02750);
  CHECK_FALSE(broker.configure(policy));
  CHECK(broker.problem().empty());
}

TEST_CASE("the files: group-readable, rewritten only when they change, generation last") {
  Box box;
  std::vector<nlohmann::json> events;
  LocalBroker broker(box.paths, box.state.string());
  REQUIRE_FALSE(broker.open(events));
  REQUIRE_FALSE(broker.configure(policy_with("plc-1, plc-2")));
  const gid_t group = stat_of(box.dir).st_gid;
  for (const char* name : {"mosquitto.conf", "acl", "passwords", "generation"}) {
    CAPTURE(name);
    const struct stat info = stat_of(box.dir / name);
    CHECK((info.st_mode & 07777) == 0640);
    CHECK(info.st_gid == group);
  }
  const std::string acl = read(box.dir / "acl");
  CHECK(acl.find("user " + broker.username() + "\n") != std::string::npos);
  CHECK(acl.find("user plc-2\n") != std::string::npos);
  // Only sekishod has a password yet.
  CHECK(read(box.dir / "passwords").find(broker.username() + ":$7$101$") != std::string::npos);
  CHECK(read(box.dir / "passwords").find("plc-1:") == std::string::npos);
  CHECK(read(box.dir / "passwords").find(broker.password()) == std::string::npos);

  auto inode = [&](const char* name) { return stat_of(box.dir / name).st_ino; };
  const ino_t conf = inode("mosquitto.conf");
  const ino_t generation = inode("generation");
  const std::string digest = read(box.dir / "generation");
  REQUIRE_FALSE(broker.configure(policy_with("plc-1, plc-2")));
  CHECK(inode("mosquitto.conf") == conf);
  CHECK(inode("generation") == generation);
  // A publisher less: the ACL changes, the listeners do not (no restart needed).
  REQUIRE_FALSE(broker.configure(policy_with("plc-1")));
  CHECK(inode("mosquitto.conf") == conf);
  CHECK(read(box.dir / "acl").find("user plc-2\n") == std::string::npos);
  CHECK(read(box.dir / "generation") != digest);
  const nlohmann::json status = broker.status_json(policy_with("plc-1"));
  CHECK(status["publishers"] == nlohmann::json::array({{{"name", "plc-1"}, {"password", false}}}));
  CHECK(status["generation"] == read(box.dir / "generation").substr(0, 64));
  CHECK(status["applied"] == false);
  CHECK(status.dump().find(broker.username()) == std::string::npos);
}

TEST_CASE("a publisher's password: stored as a hash only, a new one replaces the old") {
  Box box;
  std::vector<nlohmann::json> events;
  LocalBroker broker(box.paths, box.state.string());
  REQUIRE_FALSE(broker.open(events));
  const sekisho::policy::Policy policy = policy_with("plc-1");
  REQUIRE_FALSE(broker.configure(policy));
  std::string problem;
  std::optional<StagedPassword> first = broker.stage_password("plc-1", problem);
  REQUIRE(first);
  CHECK_FALSE(first->rotated);
  // Staged: nothing counts yet.
  CHECK(read(box.state / "broker-passwords").find("plc-1:") == std::string::npos);
  REQUIRE_FALSE(broker.commit_password(*first, policy));
  auto plc_hash = [](const fs::path& file) { return stored_hash(file, "plc-1"); };
  CHECK(password_matches(plc_hash(box.state / "broker-passwords"), first->password));
  CHECK(password_matches(plc_hash(box.dir / "passwords"), first->password));
  CHECK(read(box.state / "broker-passwords").find(first->password) == std::string::npos);

  std::optional<StagedPassword> second = broker.stage_password("plc-1", problem);
  REQUIRE(second);
  CHECK(second->rotated);
  REQUIRE_FALSE(broker.commit_password(*second, policy));
  CHECK(password_matches(plc_hash(box.dir / "passwords"), second->password));
  CHECK_FALSE(password_matches(plc_hash(box.dir / "passwords"), first->password));
  // Kept across a restart, and out of the broker's file while the policy names it not.
  LocalBroker restarted(box.paths, box.state.string());
  REQUIRE_FALSE(restarted.open(events));
  REQUIRE_FALSE(restarted.configure(policy_with("plc-2")));
  CHECK(read(box.dir / "passwords").find("plc-1:") == std::string::npos);
  REQUIRE_FALSE(restarted.configure(policy));
  CHECK(password_matches(plc_hash(box.dir / "passwords"), second->password));
}

TEST_CASE("Debian's own broker, enabled, is named") {
  TempDir root;
  const fs::path link = root.path / "mosquitto.service";
  CHECK(debian_broker_problem(link.string()).empty());
  fs::create_symlink("/lib/systemd/system/mosquitto.service", link);
  const std::string problem = debian_broker_problem(link.string());
  CHECK(problem.find("127.0.0.1:1883") != std::string::npos);
  CHECK(problem.find("systemctl disable --now mosquitto.service") != std::string::npos);
}

TEST_CASE("generation is written again while the broker has not applied it") {
  Box box;
  std::vector<nlohmann::json> events;
  LocalBroker broker(box.paths, box.state.string(),
                     BrokerPatience{std::chrono::milliseconds(0), std::chrono::milliseconds(0)});
  REQUIRE_FALSE(broker.open(events));
  REQUIRE_FALSE(broker.configure(policy_with("plc-1")));
  const fs::path generation = box.dir / "generation";
  const ino_t written = stat_of(generation).st_ino;
  // Without cloud.mqtt nothing is asked of a broker that may not run.
  broker.tick(false);
  CHECK(stat_of(generation).st_ino == written);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  broker.tick(true);
  const ino_t again = stat_of(generation).st_ino;
  CHECK(again != written);
  CHECK(read(generation) ==
        broker.status_json(policy_with("plc-1"))["generation"].get<std::string>() + "\n");
  // What sekisho-broker-apply writes once it reloaded the broker.
  write(box.dir / "applied", read(generation), 0640);
  broker.tick(true);
  CHECK(stat_of(generation).st_ino == again);
  CHECK(broker.status_json(policy_with("plc-1"))["applied"] == true);
}
