#pragma once
// Destroying what a decommission Plan lists, one file at a time: its SHA-256 taken first,
// a key overwritten with random bytes and fsynced (unless it has another hard link by
// now), then the file unlinked (a symlink itself, never what it points to); a file already
// gone is passed over. Then the emptied directories are removed. Each file and directory
// is reached from the plan's root without following a symlink or crossing a mount point
// (openat2), so nothing that turned into a way outside since the plan is touched. Stops at
// the first failure; what was destroyed until then is in `destroyed` and `removed_dirs`.

#include <cstdint>
#include <string>
#include <vector>

#include <unistd.h>

#include "daemon/common/fd.hpp"
#include "daemon/sekishoctl/decommission_plan.hpp"

namespace sekisho::ctl::decommission {

// One file destroyed, as the report names it.
struct Destroyed {
  std::string path;
  std::string sha256;  // of the content before it was destroyed (a symlink: its target text)
  std::uint64_t bytes = 0;
  bool key = false;
};

Result destroy(const Plan& plan, std::vector<Destroyed>& destroyed,
               std::vector<std::string>& removed_dirs);

}  // namespace sekisho::ctl::decommission
