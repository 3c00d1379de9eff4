#include "daemon/sekishod/last_good.hpp"

#include <cerrno>

#include <sys/stat.h>

#include "daemon/common/files.hpp"

namespace sekisho::daemon {

std::string last_good_path(const std::string& state_dir) {
  return state_dir + "/last-good.yaml";
}

std::string previous_policy_path(const std::string& state_dir) {
  return state_dir + "/previous-policy.yaml";
}

std::error_code save_last_good(const std::string& state_dir, const std::string& policy_text) {
  if (::mkdir(state_dir.c_str(), 0700) < 0 && errno != EEXIST) {
    return std::error_code(errno, std::generic_category());
  }
  return write_file_atomically(last_good_path(state_dir), policy_text, 0600);
}

}  // namespace sekisho::daemon
