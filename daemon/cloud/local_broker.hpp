#pragma once
// The local MQTT broker as sekishod keeps it: the credentials, and the files mosquitto runs
// with (daemon/cloud/broker_config renders them from the policy).
//
// Files (paths as installed; sekishod's --broker-dir, --broker-socket, --broker-store):
// - STATE_DIR/broker-login.key: sekishod's own user name and password at the broker, made
//   at the first start (0600, sekishod's user: root; never shipped, never logged). The
//   user name, which is also its client id, is "sekishod-" and 20 random hex digits:
//   secret, since mosquitto 2.0.11 lets a refused client that names an existing session's
//   client id throw that session away (daemon/cloud/broker_config.hpp). A file that is
//   not a regular file of sekishod's user that nobody else may read or write, or does not
//   hold a login, is replaced by a new one.
// - STATE_DIR/broker-passwords: the `$7$` hashes of sekishod's password and of each
//   publisher's (0600, root): the only record of the publishers' passwords, which are
//   shown once and never stored.
// - DIR (/etc/sekisho/broker: root, the broker's group, 2750) gets mosquitto.conf, acl
//   and passwords (0640: the setgid directory gives them its group, so the broker reads
//   them and cannot change them), then `generation` (their digest) last. systemd's
//   sekisho-broker-apply.path sees it change and runs sekisho-broker-apply, which
//   reloads the broker (or restarts it when mosquitto.conf changed: listeners are bound
//   only at start) and writes the digest it applied to DIR/applied.
// A change made while that runs would go unseen (a path unit does not watch while its
// service runs), so tick() writes `generation` again while `applied` lags behind it.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/cloud/broker_config.hpp"
#include "daemon/common/files.hpp"
#include "policy/model.hpp"

namespace sekisho::cloud {

inline constexpr const char* kBrokerLoginName = "broker-login.key";
inline constexpr const char* kBrokerStoreName = "broker-passwords";
inline constexpr const char* kBrokerGenerationName = "generation";
inline constexpr const char* kBrokerAppliedName = "applied";

// A new password for a publisher, not yet stored (LocalBroker::stage_password).
struct StagedPassword {
  std::string user;
  std::string password;
  bool rotated = false;  // it had one before
  std::map<std::string, std::string> hashes;
  std::unique_ptr<StagedFile> store;
};

// Where systemd records that Debian's own mosquitto.service is enabled: in its default
// configuration that broker lets anyone on the gateway in on 127.0.0.1:1883 without a
// password, and sekisho-broker.service conflicts with it.
inline constexpr const char* kDebianBrokerEnabled =
    "/etc/systemd/system/multi-user.target.wants/mosquitto.service";

// What to tell the admin when `enabled_link` exists (Debian's broker is enabled), or empty.
std::string debian_broker_problem(const std::string& enabled_link = kDebianBrokerEnabled);

// How long the broker may take to apply what was written before `generation` is written
// again, and how often after that.
struct BrokerPatience {
  std::chrono::steady_clock::duration apply = std::chrono::seconds(10);
  std::chrono::steady_clock::duration retrigger = std::chrono::seconds(30);
};

class LocalBroker {
 public:
  LocalBroker(BrokerPaths paths, std::string state_dir, BrokerPatience patience = {});

  // Reads sekishod's password and the stored hashes, making what is missing (a first
  // start) or unusable. `events`: what it made, as cloud.credential records' details.
  std::error_code open(std::vector<nlohmann::json>& events);
  const std::string& username() const { return username_; }
  const std::string& password() const { return password_; }
  const BrokerPaths& paths() const { return paths_; }

  // Writes the broker's files for `policy` where their content changed. An error when the
  // directory is missing or not as it must be (nothing is written then) or a write fails.
  std::error_code configure(const policy::Policy& policy);
  // Why the last configure() failed, or empty.
  const std::string& problem() const { return problem_; }

  // A new password for `user`, its hash staged beside the store; nullopt (and `problem`)
  // when the generator or the disk fails. Nothing changes until commit_password().
  std::optional<StagedPassword> stage_password(const std::string& user, std::string& problem);
  // Stores the staged hash, then writes the files for `policy`.
  std::error_code commit_password(StagedPassword& staged, const policy::Policy& policy);

  // Once a second: whether the broker applied what was written last; writes `generation`
  // again when it has not for a while and `cloud` (cloud.mqtt) says a broker should run.
  void tick(bool cloud);

  nlohmann::json status_json(const policy::Policy& policy) const;

 private:
  std::string applied_digest() const;

  BrokerPaths paths_;
  std::string state_dir_;
  BrokerPatience patience_;
  std::string username_;
  std::string password_;
  std::map<std::string, std::string> hashes_;  // user -> `$7$` hash
  bool opened_ = false;
  std::string problem_;
  std::string problem_logged_;  // said once per problem
  // The digest last written to `generation`, and when.
  std::string digest_;
  std::chrono::steady_clock::time_point written_at_{};
  std::chrono::steady_clock::time_point triggered_at_{};
  bool applied_ = false;
  bool lag_logged_ = false;
};

}  // namespace sekisho::cloud
