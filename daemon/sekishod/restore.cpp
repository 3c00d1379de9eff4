#include "daemon/sekishod/restore.hpp"

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/log.hpp"
#include "daemon/nft/apply.hpp"
#include "daemon/sekishod/last_good.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/lockdown.hpp"
#include "policy/open_schedules.hpp"

namespace sekisho::daemon {

namespace {

bool apply_and_report(const ir::Ruleset& ruleset, const std::string& label) {
  nft::ApplyOutcome outcome;
  try {
    // A socket of its own: --restore runs once, at early boot.
    nft::Socket socket;
    if (std::error_code error = socket.open()) {
      log_error(label + ": netlink: " + error.message());
      return false;
    }
    outcome = nft::apply_ruleset(socket, ruleset, label);
  } catch (const std::exception& error) {  // out of memory, most likely
    log_error(label + ": " + error.what());
    return false;
  }
  for (const std::string& error : outcome.errors) {
    log_error(error);
  }
  return outcome.ok;
}

}  // namespace

int restore_last_good(const std::string& state_dir) {
  const std::string path = last_good_path(state_dir);
  try {
    policy::LoadResult loaded = policy::load_policy_file(path);
    if (loaded.policy) {
      // Scheduled sets stay empty and a WAN that has operating hours stays closed: at
      // early boot the clock may not be set yet, and a closed window is the safe guess.
      // The daemon opens them when it starts.
      ir::Ruleset ruleset = policy::compile(*loaded.policy);
      policy::fill_wan_gate(ruleset, *loaded.policy,
                            loaded.policy->wan && loaded.policy->wan->up.has_value());
      if (apply_and_report(ruleset, path)) {
        log_notice("restored the last-good ruleset from " + path);
        return kExitOk;
      }
      log_error("the kernel refused the last-good ruleset; locking down instead");
    } else {
      const bool missing = loaded.diagnostics.has_code("io");
      log_warning(path +
                  (missing ? ": no last-good policy" : ": the last-good policy does not load") +
                  "; locking down: only loopback traffic passes");
    }
  } catch (const std::exception& error) {
    log_error(path + ": " + error.what() + "; locking down: only loopback traffic passes");
  }
  if (apply_and_report(policy::lockdown_ruleset(), "lockdown")) {
    log_notice("lockdown in force: table inet sekisho drops everything but loopback");
    return kExitOk;
  }
  log_error("could not load even the lockdown ruleset");
  return kExitNegative;
}

}  // namespace sekisho::daemon
