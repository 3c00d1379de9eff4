#pragma once
// STATE_DIR/wan.json: the WAN link override in force and what the link held when sekishod
// set it down. sekishod writes it (service_wan.cpp); sekishod at start and
// `sekishod --restore` at early boot read it.

#include <optional>
#include <string>
#include <vector>

#include "daemon/net/link_snapshot.hpp"
#include "daemon/wan/link_state.hpp"

namespace sekisho::daemon {

std::string wan_state_path(const std::string& state_dir);

struct StoredWanState {
  std::optional<wan::Override> override_;
  std::optional<net::LinkSnapshot> snapshot;
  // What could not be read, one log line each ("PATH: override: ...; ignored").
  std::vector<std::string> problems;
  // The file is there, but it or its override cannot be read: it may hold a forced down.
  bool override_unknown = false;
};

// A missing file is no override and no recording, and no problem.
StoredWanState read_wan_state(const std::string& state_dir);

// Whether a forced down is stored, whatever its deadline says (at early boot the clock may
// be wrong, and a deadline passed by a clock far ahead must not open the WAN), or may be.
bool forced_down_stored(const StoredWanState& state);

}  // namespace sekisho::daemon
