#pragma once
// What `sekishoctl decommission` will destroy: every file of the configuration and state
// directories (found without following a symlink or entering a mount point), each marked
// as a key or not, and the directories to remove, deepest first; and what it leaves, with
// the reason: a key file the policy names outside both directories, a mount point inside
// them, the local broker's message store. Nothing outside the two directories is ever
// destroyed. Nothing here writes or
// removes anything; failures come back as a Failure with its exit code.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <sys/types.h>

#include "daemon/common/exit_codes.hpp"

namespace sekisho::ctl::decommission {

// Why the command stops, and with which exit code.
struct Failure {
  int code = kExitNegative;
  std::string message;
};
using Result = std::optional<Failure>;  // nullopt: went well

std::error_code errno_code();

// EACCES and EPERM mean "not as this user": 77, with the path, whatever the step.
Failure io_failure(const std::string& path, const std::error_code& error, const std::string& doing);

// What the command was told: the two directories to destroy and where the export goes.
struct Settings {
  std::string state_dir;   // canonical when it exists
  std::string config_dir;  // canonical when it exists
  std::string out;
  std::string public_out;  // OUT.pub.pem
  // The local broker's message store (sekishod --broker-store), canonical when it exists:
  // another user's directory, listed as left, never destroyed.
  std::string broker_store;
};

// One non-directory to destroy: a file, a symlink (the link itself), a socket...
struct Target {
  std::string path;
  bool key = false;  // a regular file that holds a key: overwritten before it is unlinked
  std::uint64_t bytes = 0;
};

// Something the decommission does not destroy, and why.
struct Left {
  std::string path;
  std::string reason;
};

// A directory the plan walked, as it was then: destroying works below it only, and only
// while it is still the same directory.
struct Root {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
};

struct Plan {
  std::vector<Root> roots;        // the configuration and state directories that exist
  std::vector<Target> files;      // sorted by path
  std::vector<std::string> dirs;  // to remove, deepest first
  std::vector<Left> left;         // sorted by path
  std::vector<std::string> notes;
};

bool exists_no_follow(const std::string& path);

// Whether `path` lies below `dir` (not `dir` itself).
bool is_under(const std::filesystem::path& path, const std::string& dir);

// The system directory (/, /etc, /var/lib, /usr...) that `dir` is or holds, if any: a
// decommission of such a directory would destroy far more than sekisho's files.
std::optional<std::string> system_directory_in(const std::string& dir);

// The directory made absolute and free of symlinks, so that the paths found in it compare
// with the policy's; only made absolute when it does not exist.
std::string real_dir(const std::string& dir);

// The plan for `settings`: the files of both directories and the policy's key files, with
// notes on what is left or could not be looked for.
Result make_plan(const Settings& settings, Plan& plan);

// Before anything is written or destroyed: whatever this user cannot do is found now, not
// halfway through (root passes all of these; a read-only file system does not).
Result check_access(const Settings& settings, const Plan& plan);

}  // namespace sekisho::ctl::decommission
