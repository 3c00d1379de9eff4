#pragma once
// The local MQTT broker's whole configuration (mosquitto 2.0), generated from the policy:
// nobody copies or edits these files; sekishod writes them (daemon/cloud/local_broker)
// and sekisho-broker.service runs mosquitto with them.
//
// - mosquitto.conf: no anonymous access on any listener; two listeners, both with the
//   user name as client id (use_username_as_clientid), so a client id is only ever the
//   name someone logged in with and nobody can take over another's session:
//   - a Unix socket for sekishod (its directory lets only the broker's group in);
//   - cloud.mqtt.local_broker (ADDRESS:PORT), for the devices; without cloud.mqtt, none.
//   The store keeps sekishod's session and its queue across a broker restart. Every
//   client's queue is bounded (broker_max_queued_bytes, kBrokerMaxQueuedMessages), and
//   the broker's log does not name sekishod (connection messages and notices off).
//   Debian 12's mosquitto 2.0.11 has a flaw there (fixed in 2.0.13, context->in_by_id): a
//   client that gives no user name at such a listener is refused, but keeps the client id
//   it asked for, and closing the refused connection takes the session of that id out of
//   the broker's index; at its owner's next reconnect the session, with everything queued
//   for it, is lost. So sekishod's user name, and with it its client id, is random and
//   secret (daemon/cloud/local_broker). A publisher's is its host name: on 2.0.11 what its
//   session holds (downlink messages queued while it is away) can be lost that way.
// - acl: per user. sekishod reads the uplink topics and writes the downlink ones; each
//   publisher writes the uplink topics and reads the downlink ones. Nothing else.
// - passwords: `user:$7$...` for sekishod and each publisher that has a password.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "policy/model.hpp"

namespace sekisho::cloud {

struct BrokerPaths {
  std::string dir;     // the three files; mosquitto reads them there
  std::string socket;  // sekishod's listener
  std::string store;   // mosquitto's persistence directory
};

// The installed defaults: see systemd/sekisho-broker.service.in.
inline constexpr const char* kDefaultBrokerDir = "/etc/sekisho/broker";
inline constexpr const char* kDefaultBrokerSocket = "/run/sekisho-broker/mqtt.sock";
inline constexpr const char* kDefaultBrokerStore = "/var/lib/sekisho-broker";

inline constexpr const char* kBrokerConfName = "mosquitto.conf";
inline constexpr const char* kBrokerAclName = "acl";
inline constexpr const char* kBrokerPasswordsName = "passwords";

struct BrokerFiles {
  std::string conf;
  std::string acl;
  std::string passwords;
  // SHA-256 over the three: the generation the broker's reload unit reports as applied.
  std::string digest() const;
  bool operator==(const BrokerFiles&) const = default;
};

// The most messages the broker queues for one client (sekishod while it is away, a
// publisher for its downlink): about 100 s of a plant sending 1,000 a second, a few tens
// of megabytes of the broker's memory besides the payloads.
inline constexpr std::uint64_t kBrokerMaxQueuedMessages = 100000;

// The most payload bytes the broker queues for one client: what sekishod's outbox holds
// (cloud.mqtt.queue.max_bytes), so sekishod's own queue while it is away is never more
// than its outbox would take anyway; at most 2 GiB - 1, the most mosquitto 2.0.11 reads.
std::uint64_t broker_max_queued_bytes(const policy::Policy& policy);

// The hosts cloud.mqtt.publishers stands for (groups flattened), sorted, each once; empty
// without cloud.mqtt. `policy` must be checked.
std::vector<std::string> broker_publishers(const policy::Policy& policy);

// Why `paths` cannot stand in mosquitto.conf (a relative path, a space or a control
// character: its parser splits at spaces), or empty.
std::string broker_paths_problem(const BrokerPaths& paths);

// The three files for a checked policy. `bridge_user`: sekishod's user name there (it
// starts with policy::kBrokerBridgeUserPrefix). `hashes`: user name -> `$7$` hash; a user
// without one is left out of the password file (it cannot log in). Throws
// std::invalid_argument for what the files cannot hold (paths, topic filters or names
// that the checks refuse): a second line of defence, since a line break in any of them
// would write a line of the attacker's choosing.
BrokerFiles render_broker_files(const policy::Policy& policy, const BrokerPaths& paths,
                                const std::string& bridge_user,
                                const std::map<std::string, std::string>& hashes);

}  // namespace sekisho::cloud
