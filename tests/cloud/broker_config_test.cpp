// The local broker's generated configuration (daemon/cloud/broker_config) and its password
// hashes (daemon/cloud/broker_password): the hash is mosquitto's own `$7$` format, checked
// against a line mosquitto_passwd 2.0.11 wrote (and against the installed mosquitto_passwd
// when there is one); the files grant exactly what the policy says, to nobody anonymous,
// and refuse what would let a policy value write a line of its own. The real broker
// accepting and refusing these logins is tests/lab/cloud.sh.

#include "daemon/cloud/broker_config.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <unistd.h>

#include "daemon/cloud/broker_password.hpp"
#include "daemon/cloud/local_client.hpp"
#include "policy/load.hpp"

using namespace sekisho::cloud;

namespace {

// Written by `mosquitto_passwd -b FILE sekishod secret1` of Debian 12's mosquitto 2.0.11.
constexpr const char* kMosquittoLine =
    "sekishod:$7$101$sBg9TGT392B/i1S5$u38EPdE/6Jm35nxtzcMdGGJt5yOHJW4ocgnMNlsR74KPMVrMToHRN3+"
    "6PwESNOiby9J9CZ/FJmHs/Lzr8zYwOA==";

std::string hash_of(const std::string& line) {
  return line.substr(line.find(':') + 1);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

// The lines that are not comments or empty.
std::vector<std::string> settings(const std::string& text) {
  std::vector<std::string> out;
  for (const std::string& line : lines(text)) {
    if (!line.empty() && line.front() != '#') {
      out.push_back(line);
    }
  }
  return out;
}

constexpr const char* kPolicy = R"(version: 1
gateway: { name: gw }
zones:
  ot: { interfaces: [lan0], networks: [192.0.2.0/24] }
  wan: { interfaces: [wan0] }
hosts:
  plc-1: { address: 192.0.2.10 }
  plc-2: { address: 192.0.2.11 }
  hmi-1: { address: 192.0.2.20 }
  cloud-broker: { addresses: [203.0.113.10] }
groups:
  line1: [plc-1, plc-2]
rules: []
cloud:
  mqtt:
    broker: cloud-broker
    tls: { ca_file: /etc/sekisho/cloud/ca.pem, cert_file: /etc/sekisho/c.pem, key_file: /etc/sekisho/c.key }
    local_broker: 192.0.2.1:1883
    publishers: [line1, hmi-1, plc-1]
    uplink: ["factory/+/telemetry", "factory/alarms/#"]
    downlink: ["commands/factory/#"]
)";

sekisho::policy::Policy load(const std::string& text) {
  sekisho::policy::LoadResult result = sekisho::policy::load_policy_text(text, "test.yaml");
  REQUIRE_MESSAGE(result.policy, "the test policy does not load");
  return std::move(*result.policy);
}

// sekishod's user name there, as daemon/cloud/local_broker makes one.
const std::string kBridge = "sekishod-0123456789abcdef0123";

const BrokerPaths kPaths{"/etc/sekisho/broker", "/run/sekisho-broker/mqtt.sock",
                         "/var/lib/sekisho-broker"};

}  // namespace

TEST_CASE("a password hash is mosquitto_passwd's: same bytes for the same salt") {
  const std::string hash = hash_of(kMosquittoLine);
  CHECK(valid_password_hash(hash));
  CHECK(password_matches(hash, "secret1"));
  CHECK_FALSE(password_matches(hash, "secret2"));
  CHECK_FALSE(password_matches(hash, ""));
  // Re-made from its salt and count: the very line mosquitto_passwd wrote.
  const std::string salt_b64 = hash.substr(7, 16);
  unsigned char salt[12];
  // 16 characters of base64, no padding: 12 bytes.
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::uint32_t bits = 0;
  int count = 0;
  std::size_t n = 0;
  for (char c : salt_b64) {
    bits = (bits << 6) | static_cast<std::uint32_t>(alphabet.find(c));
    if (++count == 4) {
      salt[n++] = static_cast<unsigned char>(bits >> 16);
      salt[n++] = static_cast<unsigned char>(bits >> 8);
      salt[n++] = static_cast<unsigned char>(bits);
      bits = 0;
      count = 0;
    }
  }
  REQUIRE(n == 12);
  CHECK(password_hash("secret1", std::string(reinterpret_cast<char*>(salt), 12), 101) == hash);
}

TEST_CASE("hashes made here pass mosquitto_passwd's own hashing, both ways") {
  const std::optional<std::string> password = random_password();
  REQUIRE(password);
  const std::optional<std::string> hash = password_hash(*password);
  REQUIRE(hash);
  CHECK(hash->starts_with("$7$101$"));
  CHECK(valid_password_hash(*hash));
  CHECK(password_matches(*hash, *password));
  CHECK_FALSE(password_matches(*hash, *password + "x"));
  const std::optional<std::string> again = password_hash(*password);
  REQUIRE(again);
  CHECK(*again != *hash);  // a fresh salt each time
  CHECK(password_matches(*again, *password));

  const char* tool = "/usr/bin/mosquitto_passwd";
  if (::access(tool, X_OK) != 0) {
    MESSAGE("mosquitto_passwd is not installed: only the fixed line above is checked");
    return;
  }
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("sekisho-pw-" + std::to_string(::getpid()));
  std::ofstream(file).close();
  const std::string command =
      std::string(tool) + " -b " + file.string() + " plc-1 '" + *password + "' 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  std::filesystem::remove(file);
  REQUIRE(line.starts_with("plc-1:$7$"));
  CHECK(valid_password_hash(hash_of(line)));
  CHECK(password_matches(hash_of(line), *password));
  CHECK_FALSE(password_matches(hash_of(line), "not it"));
}

TEST_CASE("random passwords: 32 characters of base64url, never twice the same") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::optional<std::string> password = random_password();
    REQUIRE(password);
    CHECK(password->size() == 32);
    CHECK(password->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_") == std::string::npos);
    seen.insert(*password);
  }
  CHECK(seen.size() == 200);
}

TEST_CASE("hashes mosquitto would refuse are not taken") {
  const std::string good = hash_of(kMosquittoLine);
  const std::string salt = "sBg9TGT392B/i1S5";
  const std::string digest = good.substr(good.rfind('$') + 1);
  for (const std::string& bad :
       {std::string(""), "$6$" + salt + "$" + digest, "$7$0$" + salt + "$" + digest,
        "$7$0101$" + salt + "$" + digest, "$7$-1$" + salt + "$" + digest,
        "$7$2000000$" + salt + "$" + digest, "$7$101$" + salt + "$" + digest + "$",
        "$7$101$" + salt.substr(4) + "$" + digest, "$7$101$" + salt + "$" + digest.substr(4),
        "$7$101$" + salt + "=$" + digest, "$7$101$" + salt + "$" + digest + "\n", "$7$101$" + salt,
        "7$101$" + salt + "$" + digest}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_password_hash(bad));
    CHECK_FALSE(password_matches(bad, "secret1"));
  }
}

TEST_CASE("the configuration: no anonymous access, one client id per user, the policy's listener") {
  const sekisho::policy::Policy policy = load(kPolicy);
  const std::string sekishod = hash_of(kMosquittoLine);
  const std::string plc = *password_hash("plc password");
  const BrokerFiles files =
      render_broker_files(policy, kPaths, kBridge, {{kBridge, sekishod}, {"plc-1", plc}});
  const std::vector<std::string> conf = settings(files.conf);
  auto has = [&](const std::string& line) {
    return std::find(conf.begin(), conf.end(), line) != conf.end();
  };
  CHECK(has("per_listener_settings false"));
  CHECK(has("allow_anonymous false"));
  CHECK(has("password_file /etc/sekisho/broker/passwords"));
  CHECK(has("acl_file /etc/sekisho/broker/acl"));
  CHECK(has("persistence true"));
  CHECK(has("persistence_location /var/lib/sekisho-broker/"));
  CHECK(has("max_packet_size 262144"));
  // Exactly two listeners, each followed by use_username_as_clientid, and nothing that
  // would turn anonymous access or another listener on.
  std::vector<std::string> listeners;
  for (std::size_t i = 0; i < conf.size(); ++i) {
    if (conf[i].starts_with("listener ")) {
      listeners.push_back(conf[i]);
      REQUIRE(i + 1 < conf.size());
      CHECK(conf[i + 1] == "use_username_as_clientid true");
    }
    CHECK_FALSE(conf[i].starts_with("allow_anonymous true"));
    CHECK_FALSE(conf[i].starts_with("include_dir"));
    CHECK_FALSE(conf[i].starts_with("port "));
  }
  CHECK(listeners == std::vector<std::string>{"listener 0 /run/sekisho-broker/mqtt.sock",
                                              "listener 1883 192.0.2.1"});
  // Options before the first listener apply to the default listener: the security ones
  // are global here (per_listener_settings false), so none may come after a listener.
  const auto first_listener = std::find_if(
      conf.begin(), conf.end(), [](const std::string& l) { return l.starts_with("listener "); });
  for (auto it = first_listener; it != conf.end(); ++it) {
    CHECK((it->starts_with("listener ") || *it == "use_username_as_clientid true"));
  }

  // The ACL: per user, nothing for anonymous clients (no topic line before the first user).
  const std::vector<std::string> acl = settings(files.acl);
  REQUIRE_FALSE(acl.empty());
  CHECK(acl.front() == "user " + kBridge);
  const std::vector<std::string> expected = {
      "user " + kBridge,
      "topic read factory/+/telemetry",
      "topic read factory/alarms/#",
      "topic write commands/factory/#",
      "user hmi-1",
      "topic read commands/factory/#",
      "topic write factory/+/telemetry",
      "topic write factory/alarms/#",
      "user plc-1",
      "topic read commands/factory/#",
      "topic write factory/+/telemetry",
      "topic write factory/alarms/#",
      "user plc-2",
      "topic read commands/factory/#",
      "topic write factory/+/telemetry",
      "topic write factory/alarms/#",
  };
  CHECK(acl == expected);

  // Passwords: only who has one (plc-2 and hmi-1 have none yet, so they cannot log in).
  CHECK(settings(files.passwords) ==
        std::vector<std::string>{kBridge + ":" + sekishod, "plc-1:" + plc});
  CHECK(broker_publishers(policy) == std::vector<std::string>{"hmi-1", "plc-1", "plc-2"});
}

TEST_CASE("the broker's log names no client: no connection messages, no notices") {
  const BrokerFiles files =
      render_broker_files(load(kPolicy), kPaths, kBridge, {{kBridge, hash_of(kMosquittoLine)}});
  std::vector<std::string> log_types;
  bool connection_messages_off = false;
  for (const std::string& line : settings(files.conf)) {
    if (line.starts_with("log_type ")) {
      log_types.push_back(line.substr(9));
    }
    connection_messages_off = connection_messages_off || line == "connection_messages false";
    CHECK(line != "connection_messages true");
  }
  // Without log_type lines mosquitto logs notices, which name clients ("Outgoing messages
  // are being dropped for client ..."); with connection_messages it names every login.
  CHECK(connection_messages_off);
  CHECK(log_types == std::vector<std::string>{"error", "warning", "information"});
  CHECK(files.conf.find(kBridge) == std::string::npos);
}

TEST_CASE("every client's queue is bounded: the outbox's bytes, and a count") {
  auto queue_settings = [](const std::string& queue) {
    std::string text = kPolicy;
    if (!queue.empty()) {
      text += "    queue: { max_bytes: " + queue + " }\n";
    }
    std::vector<std::string> out;
    for (const std::string& line :
         settings(render_broker_files(load(text), kPaths, kBridge, {}).conf)) {
      if (line.starts_with("max_queued_")) {
        out.push_back(line);
      }
    }
    return out;
  };
  // 0 would be no bound at all, as mosquitto reads it.
  CHECK(queue_settings("") ==
        std::vector<std::string>{"max_queued_messages 100000", "max_queued_bytes 1073741824"});
  CHECK(queue_settings("8MiB") ==
        std::vector<std::string>{"max_queued_messages 100000", "max_queued_bytes 8388608"});
  // mosquitto 2.0.11 reads the number with atoi(): 2 GiB would wrap to no bound.
  CHECK(queue_settings("2GiB") ==
        std::vector<std::string>{"max_queued_messages 100000", "max_queued_bytes 2147483647"});
  CHECK(queue_settings("1TiB") ==
        std::vector<std::string>{"max_queued_messages 100000", "max_queued_bytes 2147483647"});
  // Without cloud.mqtt nothing may be published; the default bound stands all the same.
  std::string none = kPolicy;
  none.erase(none.find("cloud:\n"));
  const std::vector<std::string> conf =
      settings(render_broker_files(load(none), kPaths, kBridge, {}).conf);
  CHECK(std::find(conf.begin(), conf.end(), "max_queued_bytes 1073741824") != conf.end());
  CHECK(std::find(conf.begin(), conf.end(), "max_queued_messages 100000") != conf.end());
}

TEST_CASE("what sekishod publishes fits the broker's max_packet_size, headers counted") {
  // A downlink message whose payload alone is within the limit but whose PUBLISH is not
  // would make the broker close sekishod's connection: it is dropped instead.
  const std::string topic = "factory/line-1/cmd";
  const std::size_t headers = 1 + 4 + 2 + topic.size() + 2;
  CHECK(publish_fits(topic, std::string(kMaxMessageBytes - headers, 'x')));
  CHECK_FALSE(publish_fits(topic, std::string(kMaxMessageBytes - headers + 1, 'x')));
  CHECK_FALSE(publish_fits(topic, std::string(kMaxMessageBytes, 'x')));
  CHECK_FALSE(publish_fits(std::string(kMaxMessageBytes + 1, 't'), ""));
}

TEST_CASE("without cloud.mqtt: sekishod's socket only, no publisher") {
  std::string text = kPolicy;
  text.erase(text.find("cloud:\n"));
  const sekisho::policy::Policy policy = load(text);
  const BrokerFiles files =
      render_broker_files(policy, kPaths, kBridge,
                          {{kBridge, hash_of(kMosquittoLine)}, {"plc-1", *password_hash("x")}});
  std::vector<std::string> listeners;
  for (const std::string& line : settings(files.conf)) {
    if (line.starts_with("listener ")) {
      listeners.push_back(line);
    }
  }
  CHECK(listeners == std::vector<std::string>{"listener 0 /run/sekisho-broker/mqtt.sock"});
  CHECK(settings(files.acl) == std::vector<std::string>{"user " + kBridge});
  CHECK(settings(files.passwords) ==
        std::vector<std::string>{kBridge + ":" + hash_of(kMosquittoLine)});
  CHECK(broker_publishers(policy).empty());
}

TEST_CASE("the digest follows every file, and the same input gives the same bytes") {
  const sekisho::policy::Policy policy = load(kPolicy);
  const std::map<std::string, std::string> hashes{{kBridge, hash_of(kMosquittoLine)}};
  const BrokerFiles one = render_broker_files(policy, kPaths, kBridge, hashes);
  CHECK(render_broker_files(policy, kPaths, kBridge, hashes) == one);
  CHECK(one.digest().size() == 64);
  BrokerFiles changed = one;
  changed.passwords += "x";
  CHECK(changed.digest() != one.digest());
  changed = one;
  changed.acl += "x";
  CHECK(changed.digest() != one.digest());
  // Bytes moved from one file to the next are a different generation too.
  changed = one;
  changed.conf += changed.acl.substr(0, 1);
  changed.acl.erase(0, 1);
  CHECK(changed.digest() != one.digest());
}

TEST_CASE("what would write a line of its own is refused, not written") {
  const std::map<std::string, std::string> hashes{{kBridge, hash_of(kMosquittoLine)}};
  // Checks refuse these; a policy that got past them anyway must not reach the files.
  sekisho::policy::Policy policy = load(kPolicy);
  policy.cloud->uplink[0].name = "a/b\ntopic readwrite #";
  CHECK_THROWS_AS(render_broker_files(policy, kPaths, kBridge, hashes), std::invalid_argument);
  policy = load(kPolicy);
  policy.cloud->downlink[0].name = "#\r";
  CHECK_THROWS_AS(render_broker_files(policy, kPaths, kBridge, hashes), std::invalid_argument);
  policy = load(kPolicy);
  sekisho::policy::Host evil = policy.hosts[0];
  evil.name = "plc-9\nuser sekishod";
  policy.hosts.push_back(evil);
  policy.cloud->publishers = {{evil.name, {}}};
  CHECK_THROWS_AS(render_broker_files(policy, kPaths, kBridge, hashes), std::invalid_argument);
  policy = load(kPolicy);
  CHECK_THROWS_AS(render_broker_files(policy, kPaths, kBridge,
                                      {{kBridge, hash_of(kMosquittoLine) + "\nplc-2:x"}}),
                  std::invalid_argument);
  for (const BrokerPaths& paths :
       {BrokerPaths{"etc/broker", kPaths.socket, kPaths.store},
        BrokerPaths{kPaths.dir, "/run/a b/mqtt.sock", kPaths.store},
        BrokerPaths{kPaths.dir, kPaths.socket, "/var/lib/x\nlistener 1 0.0.0.0"}}) {
    CAPTURE(paths.dir + " " + paths.socket + " " + paths.store);
    CHECK_FALSE(broker_paths_problem(paths).empty());
    CHECK_THROWS_AS(render_broker_files(policy, paths, kBridge, hashes), std::invalid_argument);
  }
  CHECK(broker_paths_problem(kPaths).empty());
  // sekishod's own user name must be one, and no publisher may look like it.
  for (const std::string& bridge :
       {std::string("plc-1"), std::string("sekishod x"), std::string("")}) {
    CAPTURE(bridge);
    CHECK_THROWS_AS(render_broker_files(policy, kPaths, bridge, hashes), std::invalid_argument);
  }
  sekisho::policy::Host twin = policy.hosts[0];
  twin.name = "sekishod-plc";
  policy.hosts.push_back(twin);
  policy.cloud->publishers = {{twin.name, {}}};
  CHECK_THROWS_AS(render_broker_files(policy, kPaths, kBridge, hashes), std::invalid_argument);
}
