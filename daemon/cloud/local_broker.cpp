#include "daemon/cloud/local_broker.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/cloud/broker_password.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "policy/reader.hpp"

namespace sekisho::cloud {

namespace {

using std::chrono::steady_clock;

constexpr std::size_t kMaxStoreBytes = 1 << 20;
constexpr std::size_t kMaxFileBytes = 16 << 20;  // a generated file read back to compare

std::string errno_text() {
  return std::strerror(errno);
}

// Why a file of sekishod's own secrets may not be trusted: the rule of every private key it
// reads (vpn::key_file_problem), with the owner being the user sekishod runs as (root when
// installed), so that its tests need no root.
std::string private_file_problem(const struct stat& info) {
  if (!S_ISREG(info.st_mode)) {
    return "not a regular file";
  }
  if (info.st_uid != ::geteuid()) {
    return "owned by uid " + std::to_string(info.st_uid) + ", not by sekishod's user";
  }
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return std::string("mode ") + mode + ": others may read or write it";
  }
  return {};
}

// A small file of sekishod's that nobody else may read or write, never through a symlink.
// nullopt with `problem` set otherwise; `missing` when it does not exist.
std::optional<std::string> read_private(const std::string& path, std::size_t max_bytes,
                                        std::string& problem, bool& missing) {
  missing = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    missing = errno == ENOENT;
    problem = path + ": " + errno_text();
    return std::nullopt;
  }
  struct stat info {};
  std::string text;
  if (::fstat(fd, &info) != 0) {
    problem = path + ": " + errno_text();
  } else if (std::string why = private_file_problem(info); !why.empty()) {
    problem = path + ": " + why;
  } else if (static_cast<std::size_t>(info.st_size) > max_bytes) {
    problem = path + ": over " + std::to_string(max_bytes) + " bytes";
  } else {
    text.resize(static_cast<std::size_t>(info.st_size));
    const ssize_t n = ::read(fd, text.data(), text.size());
    if (n != static_cast<ssize_t>(text.size())) {
      problem = path + ": " + (n < 0 ? errno_text() : std::string("changed while read"));
    }
  }
  ::close(fd);
  if (!problem.empty()) {
    return std::nullopt;
  }
  return text;
}

bool valid_password(std::string_view text) {
  return text.size() == 32 &&
         text.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
             std::string_view::npos;
}

constexpr std::size_t kUserRandomBytes = 10;

// "sekishod-" and 20 lowercase hex digits.
bool valid_bridge_user(std::string_view text) {
  const std::string prefix = std::string(policy::kBrokerBridgeUserPrefix) + "-";
  return text.size() == prefix.size() + 2 * kUserRandomBytes && text.starts_with(prefix) &&
         text.find_first_not_of("0123456789abcdef", prefix.size()) == std::string_view::npos;
}

std::optional<std::string> random_bridge_user() {
  unsigned char bytes[kUserRandomBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return std::nullopt;
  }
  return std::string(policy::kBrokerBridgeUserPrefix) + "-" + to_hex(bytes, sizeof bytes);
}

// "USER\nPASSWORD\n", as the login file holds it.
std::optional<std::pair<std::string, std::string>> parse_login(const std::string& text) {
  const std::size_t newline = text.find('\n');
  if (newline == std::string::npos || !text.ends_with('\n')) {
    return std::nullopt;
  }
  std::string user = text.substr(0, newline);
  std::string password = text.substr(newline + 1, text.size() - newline - 2);
  if (!valid_bridge_user(user) || !valid_password(password)) {
    return std::nullopt;
  }
  return std::pair{std::move(user), std::move(password)};
}

// "user:$7$..." lines (and # comments); nullopt with `problem` for anything else.
std::optional<std::map<std::string, std::string>> parse_store(const std::string& text,
                                                              std::string& problem) {
  std::map<std::string, std::string> hashes;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const std::size_t colon = line.find(':');
    const std::string user = line.substr(0, colon);
    const std::string hash = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!policy::is_valid_name(user) || !valid_password_hash(hash) || hashes.contains(user)) {
      problem = "line " + std::to_string(number) + " is not a user and a password hash";
      return std::nullopt;
    }
    hashes.emplace(user, hash);
  }
  return hashes;
}

std::string store_text_of(const std::map<std::string, std::string>& hashes) {
  std::string text =
      "# sekisho's local MQTT broker: each user's password hash (mosquitto's $7$ format).\n"
      "# sekishod keeps this file and makes the broker's password file from it.\n";
  for (const auto& [user, hash] : hashes) {
    text += user + ":" + hash + "\n";
  }
  return text;
}

std::string read_or_empty(const std::string& path) {
  std::error_code error;
  return read_small_file(path, kMaxFileBytes, error).value_or("");
}

}  // namespace

std::string debian_broker_problem(const std::string& enabled_link) {
  struct stat info {};
  if (::lstat(enabled_link.c_str(), &info) != 0) {
    return {};
  }
  return "Debian's mosquitto.service is enabled (" + enabled_link +
         "): in its default configuration it lets anyone on the gateway in on "
         "127.0.0.1:1883 without a password (systemctl disable --now mosquitto.service)";
}

LocalBroker::LocalBroker(BrokerPaths paths, std::string state_dir, BrokerPatience patience)
    : paths_(std::move(paths)), state_dir_(std::move(state_dir)), patience_(patience) {}

std::error_code LocalBroker::open(std::vector<nlohmann::json>& events) {
  opened_ = false;
  const std::string store_path = state_dir_ + "/" + kBrokerStoreName;
  const std::string login_path = state_dir_ + "/" + kBrokerLoginName;
  std::string problem;
  bool missing = false;
  hashes_.clear();
  if (auto text = read_private(store_path, kMaxStoreBytes, problem, missing)) {
    auto parsed = parse_store(*text, problem);
    if (!parsed) {
      problem_ = store_path + ": " + problem;
      return std::make_error_code(std::errc::invalid_argument);
    }
    hashes_ = std::move(*parsed);
  } else if (!missing) {
    // The publishers' hashes exist nowhere else: this is for someone to look at, not to
    // be overwritten. The broker keeps running with the files it has.
    problem_ = problem;
    return std::make_error_code(std::errc::permission_denied);
  }

  const std::optional<std::string> text = read_private(login_path, 4096, problem, missing);
  std::optional<std::pair<std::string, std::string>> login =
      text ? parse_login(*text) : std::nullopt;
  if (login) {
    username_ = login->first;
    password_ = login->second;
  } else {
    if (text) {
      problem = login_path + ": does not hold a user name and a password";
    }
    std::optional<std::string> user = random_bridge_user();
    std::optional<std::string> fresh = random_password();
    if (!user || !fresh) {
      problem_ = "cannot make a login: the random number generator failed";
      return std::make_error_code(std::errc::io_error);
    }
    if (std::error_code error =
            write_file_atomically(login_path, *user + "\n" + *fresh + "\n", 0600)) {
      problem_ = "cannot write " + login_path + ": " + error.message();
      return error;
    }
    username_ = *user;
    password_ = *fresh;
    // The record names the role, not the user name: that is to stay secret.
    nlohmann::json event = {{"user", policy::kBrokerBridgeUserPrefix},
                            {"action", missing ? "made" : "replaced"}};
    if (!missing) {
      log_warning("cloud: " + problem + "; sekishod's login at the local broker is replaced");
      event["why"] = problem;
    }
    events.push_back(event);
  }

  // The store holds sekishod's current user and no earlier one.
  bool changed = false;
  for (auto it = hashes_.begin(); it != hashes_.end();) {
    if (it->first.starts_with(policy::kBrokerBridgeUserPrefix) && it->first != username_) {
      it = hashes_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  auto hash = hashes_.find(username_);
  if (hash == hashes_.end() || !password_matches(hash->second, password_)) {
    std::optional<std::string> fresh = password_hash(password_);
    if (!fresh) {
      problem_ = "cannot hash a password: the random number generator failed";
      return std::make_error_code(std::errc::io_error);
    }
    hashes_[username_] = *fresh;
    changed = true;
  }
  if (changed) {
    if (std::error_code error = write_file_atomically(store_path, store_text_of(hashes_), 0600)) {
      problem_ = "cannot write " + store_path + ": " + error.message();
      return error;
    }
  }
  opened_ = true;
  problem_.clear();
  return {};
}

std::error_code LocalBroker::configure(const policy::Policy& policy) {
  // Said once per problem; a missing directory only when cloud.mqtt needs the broker.
  auto fail = [this, &policy](const std::string& problem, std::error_code error) {
    problem_ = problem;
    const bool quiet = !policy.cloud && error == std::errc::no_such_file_or_directory;
    if (problem_logged_ != problem && !quiet) {
      log_error("cloud: the local broker's configuration is not written: " + problem);
      problem_logged_ = problem;
    }
    return error;
  };
  if (!opened_) {
    return fail(problem_.empty() ? "the credentials are not read" : problem_,
                std::make_error_code(std::errc::operation_not_permitted));
  }
  const std::string& dir = paths_.dir;
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0) {
    return fail(
        dir + ": " + errno_text() + " (the package makes it: root, the broker's group, mode 2750)",
        std::error_code(errno, std::generic_category()));
  }
  // The broker reads the files through the directory's group and must not be able to
  // replace them; without the setgid bit they would get root's group and it could not.
  if (!S_ISDIR(info.st_mode) || info.st_uid != ::geteuid() || (info.st_mode & 0022) != 0 ||
      (info.st_mode & S_ISGID) == 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return fail(dir +
                    " must be a directory of root's with the setgid bit that only root may "
                    "write (2750, the broker's group); it has mode " +
                    mode + " and owner uid " + std::to_string(info.st_uid),
                std::make_error_code(std::errc::permission_denied));
  }
  BrokerFiles files;
  try {
    files = render_broker_files(policy, paths_, username_, hashes_);
  } catch (const std::invalid_argument& refused) {
    return fail(refused.what(), std::make_error_code(std::errc::invalid_argument));
  }
  const std::pair<const char*, const std::string*> outputs[] = {
      {kBrokerAclName, &files.acl},
      {kBrokerPasswordsName, &files.passwords},
      {kBrokerConfName, &files.conf},
  };
  for (const auto& [name, text] : outputs) {
    const std::string path = dir + "/" + name;
    if (read_or_empty(path) == *text) {
      continue;
    }
    if (std::error_code error = write_file_atomically(path, *text, 0640)) {
      return fail("cannot write " + path + ": " + error.message(), error);
    }
  }
  const std::string digest = files.digest();
  const std::string generation = dir + "/" + kBrokerGenerationName;
  if (read_or_empty(generation) != digest + "\n") {
    if (std::error_code error = write_file_atomically(generation, digest + "\n", 0640)) {
      return fail("cannot write " + generation + ": " + error.message(), error);
    }
    log_info("cloud: the local broker's configuration " + digest.substr(0, 12) + " is in " + dir);
  }
  if (digest != digest_) {
    digest_ = digest;
    written_at_ = triggered_at_ = steady_clock::now();
    applied_ = false;
  }
  problem_.clear();
  problem_logged_.clear();
  return {};
}

std::optional<StagedPassword> LocalBroker::stage_password(const std::string& user,
                                                          std::string& problem) {
  if (!opened_) {
    problem = problem_.empty() ? "the credentials are not read" : problem_;
    return std::nullopt;
  }
  std::optional<std::string> password = random_password();
  std::optional<std::string> hash = password ? password_hash(*password) : std::nullopt;
  if (!hash) {
    problem = "cannot make a password: the random number generator failed";
    return std::nullopt;
  }
  StagedPassword staged{user, *password, hashes_.contains(user), hashes_,
                        std::make_unique<StagedFile>()};
  staged.hashes[user] = *hash;
  const std::string store_path = state_dir_ + "/" + kBrokerStoreName;
  if (std::error_code error = staged.store->write(store_path, store_text_of(staged.hashes), 0600)) {
    problem = "cannot write " + store_path + ": " + error.message();
    return std::nullopt;
  }
  return staged;
}

std::error_code LocalBroker::commit_password(StagedPassword& staged, const policy::Policy& policy) {
  if (std::error_code error = staged.store->commit()) {
    problem_ = "cannot write " + state_dir_ + "/" + kBrokerStoreName + ": " + error.message();
    return error;
  }
  hashes_ = staged.hashes;
  return configure(policy);
}

std::string LocalBroker::applied_digest() const {
  std::string text = read_or_empty(paths_.dir + "/" + kBrokerAppliedName);
  if (text.ends_with('\n')) {
    text.pop_back();
  }
  return text;
}

void LocalBroker::tick(bool cloud) {
  if (digest_.empty()) {
    return;
  }
  if (applied_digest() == digest_) {
    if (lag_logged_) {
      log_notice("cloud: the local broker applied its configuration " + digest_.substr(0, 12));
    }
    applied_ = true;
    lag_logged_ = false;
    return;
  }
  applied_ = false;
  const auto now = steady_clock::now();
  if (!cloud || now - written_at_ < patience_.apply || now - triggered_at_ < patience_.retrigger) {
    return;
  }
  triggered_at_ = now;
  const std::string generation = paths_.dir + "/" + kBrokerGenerationName;
  std::error_code error = write_file_atomically(generation, digest_ + "\n", 0640);
  if (!lag_logged_) {
    log_warning("cloud: the local broker has not applied the configuration " +
                digest_.substr(0, 12) + " written " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(now - written_at_).count()) +
                " s ago; " +
                (error ? "cannot write " + generation + " again: " + error.message()
                       : "wrote " + generation + " again") +
                " (is sekisho-broker-apply.path active, sekisho-broker.service running?)");
    lag_logged_ = true;
  }
}

nlohmann::json LocalBroker::status_json(const policy::Policy& policy) const {
  nlohmann::json publishers = nlohmann::json::array();
  for (const std::string& name : broker_publishers(policy)) {
    publishers.push_back({{"name", name}, {"password", hashes_.contains(name)}});
  }
  nlohmann::json status = {
      {"dir", paths_.dir},
      {"socket", paths_.socket},
      {"generation", digest_.empty() ? nlohmann::json() : nlohmann::json(digest_)},
      {"applied", applied_},
      {"publishers", publishers}};
  if (!problem_.empty()) {
    status["problem"] = problem_;
  }
  if (std::string other = debian_broker_problem(); !other.empty()) {
    status["other_broker"] = other;
  }
  return status;
}

}  // namespace sekisho::cloud
