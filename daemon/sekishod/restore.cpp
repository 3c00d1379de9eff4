#include "daemon/sekishod/restore.hpp"

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/log.hpp"
#include "daemon/nft/apply.hpp"
#include "daemon/sekishod/last_good.hpp"
#include "daemon/sekishod/wan_state.hpp"
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
      // So does a WAN forced down (`sekishoctl link down`), whatever the deadline stored
      // with it says: with a clock that is wrong it may look passed. The daemon opens
      // them when it starts, by its clock (a forced down only once the clock is
      // synchronised, and one that cannot be read only when an operator says so).
      ir::Ruleset ruleset = policy::compile(*loaded.policy);
      const bool scheduled = loaded.policy->wan && loaded.policy->wan->up.has_value();
      bool forced_down = false;
      if (loaded.policy->wan) {
        const StoredWanState stored = read_wan_state(state_dir);
        for (const std::string& problem : stored.problems) {
          log_warning(problem);
        }
        forced_down = forced_down_stored(stored);
        if (forced_down && stored.override_unreadable.empty()) {
          log_notice("the WAN link is forced down (by " + stored.override_->by + ": " +
                     stored.override_->reason + "): its gate stays closed");
        }
      }
      policy::fill_wan_gate(ruleset, *loaded.policy, scheduled || forced_down);
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
