#pragma once
// STATE_DIR/wan.json: the WAN link override in force and what the link held when sekishod
// set it down. sekishod writes it (wan_link.cpp); sekishod at start and
// `sekishod --restore` at early boot read it.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/net/link_snapshot.hpp"
#include "daemon/wan/link_state.hpp"

namespace sekisho::daemon {

std::string wan_state_path(const std::string& state_dir);

struct StoredWanState {
  std::optional<wan::Override> override_;
  std::optional<net::LinkSnapshot> snapshot;
  // What could not be read, one log line each ("PATH: override: ...").
  std::vector<std::string> problems;
  // Why the override cannot be read, or empty: the file is there but it or its override
  // cannot be read (or could not at an earlier start, and no operator has set or cleared
  // the override since), so it may hold a forced down.
  std::string override_unreadable;
};

// A missing file is no override and no recording, and no problem.
StoredWanState read_wan_state(const std::string& state_dir);

// The file's content: `override_unreadable` is kept in it, so that what sekishod writes
// (its recording of the link, say) does not turn an override it could not read into none.
nlohmann::json wan_state_json(const std::optional<wan::Override>& override_,
                              const std::string& override_unreadable,
                              const std::optional<net::LinkSnapshot>& snapshot);

// Whether a forced down is stored, whatever its deadline says (at early boot the clock may
// be wrong, and a deadline passed by a clock far ahead must not open the WAN), or may be.
bool forced_down_stored(const StoredWanState& state);

}  // namespace sekisho::daemon
