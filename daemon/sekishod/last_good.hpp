#pragma once
// The state directory keeps the policy text of the last confirmed ruleset the kernel
// accepted, so that `sekishod --restore` (the early-boot unit) can put it back before any
// interface is up: a reboot during a pending confirmation acts as a rollback. Written
// atomically: a crash leaves the old copy or the new one.

#include <string>
#include <system_error>

namespace sekisho::daemon {

std::string last_good_path(const std::string& state_dir);

// The --policy file as it was before `sekishoctl apply` last replaced it: what `rollback`
// goes back to when no confirmation is pending.
std::string previous_policy_path(const std::string& state_dir);

// Creates the directory (0700) when missing.
std::error_code save_last_good(const std::string& state_dir, const std::string& policy_text);

}  // namespace sekisho::daemon
