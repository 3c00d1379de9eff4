#pragma once
// `sekishod --restore`: puts the last-good ruleset back (or, with none that loads, the
// built-in lockdown that drops everything but loopback) and returns. The early-boot unit
// runs it before any interface is up, so the gateway never forwards unfiltered. The WAN
// gate stays closed when the WAN has operating hours or a forced down is stored
// (STATE_DIR/wan.json), until sekishod decides.

#include <string>

namespace sekisho::daemon {

// Returns the exit code: 0 when a ruleset (last-good or lockdown) is in force.
int restore_last_good(const std::string& state_dir);

}  // namespace sekisho::daemon
