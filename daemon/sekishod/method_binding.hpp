#pragma once
// What a handler bound in the control method table (control/method_table.hpp) needs
// besides its call: who called, as the audit log names them, and an answer given later
// from work on a BackgroundJob's thread.

#include <string>

#include "daemon/audit/audit_log.hpp"
#include "daemon/control/method_table.hpp"
#include "daemon/sekishod/background_job.hpp"

namespace sekisho::daemon {

inline audit::Actor actor_of(const control::Caller& caller) {
  return {caller.peer.uid, caller.user, std::string(control::role_name(caller.role))};
}

// Answers `later` with what `prepare`'s work finds on `job`'s thread.
void answer_later(BackgroundJob& job, const std::string& key, BackgroundJob::Prepare prepare,
                  const control::ControlServer::Later& later);

}  // namespace sekisho::daemon
