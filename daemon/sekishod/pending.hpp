#pragma once
// A policy applied with `--confirm-within`: it is in force, but until an admin confirms
// it the last confirmed policy stays the one on disk and in last-good. Kept in the state
// directory so that it survives a daemon restart:
//
//   pending-policy.yaml   the new policy text
//   pending.json          {"boot_id", "by": {uid, user, role}, "deadline" (Unix seconds),
//                          "deadline_boottime", "sha256" (of the text), "source" (the
//                          name the admin sent)}
//
// The deadline is wall-clock time: a confirmation due while the daemon was down is
// overdue when it starts again. `boot_id` tells a restart of the daemon (the pending
// policy is applied again) from a reboot (`--restore` put last-good back at boot; the
// daemon then rolls back too).

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "daemon/audit/audit_log.hpp"

namespace sekisho::daemon {

struct PendingConfirmation {
  std::string text;
  std::string source;
  std::string sha256;
  std::int64_t deadline = 0;           // Unix seconds: what people and records see
  std::int64_t deadline_boottime = 0;  // CLOCK_BOOTTIME seconds: what decides in this boot,
                                       // so a step of the wall clock cannot stretch it
  std::string boot_id;
  audit::Actor by;
};

// This boot's id (/proc/sys/kernel/random/boot_id), or "" when unknown.
std::string current_boot_id();
// Seconds since boot, suspend included (CLOCK_BOOTTIME).
std::int64_t boottime_now();

// Writes pending-policy.yaml, then pending.json (each atomically); the json is what
// makes a confirmation pending, so a crash in between leaves none.
std::error_code save_pending(const std::string& state_dir, const PendingConfirmation& pending);

// The pending confirmation, if any. A damaged one (unreadable, not matching its hash) is
// reported in `problem` and treated as overdue by the caller: rolling back is the safe way.
std::optional<PendingConfirmation> load_pending(const std::string& state_dir, std::string& problem);

// Whether a confirmation is pending (pending.json exists), without reading it.
bool has_pending(const std::string& state_dir);

// Removes pending.json first (then the confirmation is over), then the policy text.
std::error_code clear_pending(const std::string& state_dir);

}  // namespace sekisho::daemon
