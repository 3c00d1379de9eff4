#include "daemon/sekishod/pending.hpp"

#include <cerrno>

#include <time.h>
#include <unistd.h>

#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"
#include "policy/yaml_tree.hpp"

namespace sekisho::daemon {

namespace {

std::string json_path(const std::string& state_dir) {
  return state_dir + "/pending.json";
}

std::string text_path(const std::string& state_dir) {
  return state_dir + "/pending-policy.yaml";
}

constexpr std::size_t kMaxPendingJson = 64 * 1024;

}  // namespace

std::string current_boot_id() {
  std::error_code error;
  std::optional<std::string> id = read_small_file("/proc/sys/kernel/random/boot_id", 256, error);
  if (!id) {
    return "";
  }
  while (!id->empty() && (id->back() == '\n' || id->back() == ' ')) {
    id->pop_back();
  }
  return *id;
}

std::int64_t boottime_now() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return now.tv_sec;
}

std::error_code save_pending(const std::string& state_dir, const PendingConfirmation& pending) {
  if (std::error_code error = write_file_atomically(text_path(state_dir), pending.text, 0600)) {
    return error;
  }
  const nlohmann::json json = {
      {"boot_id", pending.boot_id},
      {"by", {{"uid", pending.by.uid}, {"user", pending.by.user}, {"role", pending.by.role}}},
      {"deadline", pending.deadline},
      {"deadline_boottime", pending.deadline_boottime},
      {"sha256", pending.sha256},
      {"source", pending.source}};
  return write_file_atomically(json_path(state_dir), json.dump() + "\n", 0600);
}

std::optional<PendingConfirmation> load_pending(const std::string& state_dir,
                                                std::string& problem) {
  problem.clear();
  std::error_code error;
  std::optional<std::string> json_text =
      read_small_file(json_path(state_dir), kMaxPendingJson, error);
  if (!json_text) {
    if (error != std::errc::no_such_file_or_directory) {
      problem = json_path(state_dir) + ": " + error.message();
    }
    return std::nullopt;
  }
  PendingConfirmation pending;
  try {
    const nlohmann::json json = nlohmann::json::parse(*json_text);
    pending.boot_id = json.at("boot_id").get<std::string>();
    pending.deadline = json.at("deadline").get<std::int64_t>();
    pending.deadline_boottime = json.at("deadline_boottime").get<std::int64_t>();
    pending.sha256 = json.at("sha256").get<std::string>();
    pending.source = json.at("source").get<std::string>();
    const nlohmann::json& by = json.at("by");
    pending.by = {by.at("uid").get<std::int64_t>(), by.at("user").get<std::string>(),
                  by.at("role").get<std::string>()};
  } catch (const std::exception& damaged) {
    problem = json_path(state_dir) + ": " + damaged.what();
    return std::nullopt;
  }
  std::optional<std::string> text =
      read_small_file(text_path(state_dir), policy::kMaxPolicyBytes, error);
  if (!text) {
    problem = text_path(state_dir) + ": " + error.message();
    return std::nullopt;
  }
  if (sha256_hex(*text) != pending.sha256) {
    problem = text_path(state_dir) + ": does not match the SHA-256 in pending.json";
    return std::nullopt;
  }
  pending.text = std::move(*text);
  return pending;
}

bool has_pending(const std::string& state_dir) {
  return ::access(json_path(state_dir).c_str(), F_OK) == 0;
}

std::error_code clear_pending(const std::string& state_dir) {
  std::error_code first;
  for (const std::string& path : {json_path(state_dir), text_path(state_dir)}) {
    if (::unlink(path.c_str()) < 0 && errno != ENOENT && !first) {
      first = std::error_code(errno, std::generic_category());
    }
  }
  return first;
}

}  // namespace sekisho::daemon
