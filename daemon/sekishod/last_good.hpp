#pragma once
// The state directory keeps the policy text of the last ruleset the kernel accepted, so
// that `sekishod --restore` (the early-boot unit) can put it back before any interface
// is up. Written atomically: a crash leaves the old copy or the new one.

#include <optional>
#include <string>
#include <system_error>

namespace sekisho::daemon {

std::string last_good_path(const std::string& state_dir);

// Creates the directory (0700) when missing.
std::error_code save_last_good(const std::string& state_dir, const std::string& policy_text);

}  // namespace sekisho::daemon
