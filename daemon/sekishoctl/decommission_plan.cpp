// The plan of `sekishoctl decommission`: see decommission_plan.hpp.

#include "daemon/sekishoctl/decommission_plan.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "policy/load.hpp"

namespace sekisho::ctl::decommission {

namespace fs = std::filesystem;

std::error_code errno_code() {
  return std::error_code(errno, std::generic_category());
}

Failure io_failure(const std::string& path, const std::error_code& error,
                   const std::string& doing) {
  if (error == std::errc::permission_denied || error == std::errc::operation_not_permitted) {
    return {kExitForbidden, "permission denied: " + path + " (run as root)"};
  }
  return {kExitNegative, "cannot " + doing + " " + path + ": " + error.message()};
}

bool exists_no_follow(const std::string& path) {
  struct stat status {};
  return ::lstat(path.c_str(), &status) == 0;
}

bool is_under(const fs::path& path, const std::string& dir) {
  const fs::path relative = path.lexically_relative(dir);
  return !relative.empty() && *relative.begin() != ".." && relative != ".";
}

std::optional<std::string> system_directory_in(const std::string& dir) {
  static const char* const kSystem[] = {
      "/",      "/bin", "/boot", "/dev",       "/etc",  "/home",    "/lib",     "/lib64",
      "/media", "/mnt", "/opt",  "/proc",      "/root", "/run",     "/sbin",    "/srv",
      "/sys",   "/tmp", "/usr",  "/usr/local", "/var",  "/var/lib", "/var/log", "/var/tmp"};
  const fs::path given = fs::path(dir).lexically_normal();
  for (const char* system : kSystem) {
    if (given == fs::path(system) || is_under(system, given.string())) {
      return std::string(system);
    }
  }
  return std::nullopt;
}

std::string real_dir(const std::string& dir) {
  std::error_code error;
  const fs::path canonical = fs::canonical(dir, error);
  return error ? fs::absolute(dir, error).lexically_normal().string() : canonical.string();
}

namespace {

// The key files the policy names, when CONFIG/policy.yaml loads, each with what names it:
// they may live anywhere.
std::map<std::string, std::string> policy_keys(const std::string& config_dir,
                                               std::vector<std::string>& notes) {
  std::map<std::string, std::string> keys;
  const std::string file = config_dir + "/policy.yaml";
  if (!exists_no_follow(file)) {
    return keys;
  }
  policy::LoadResult loaded = policy::load_policy_file(file);
  if (!loaded.policy) {
    notes.push_back(file + " does not load: key files it may name outside " + config_dir +
                    " are not looked for");
    return keys;
  }
  std::vector<std::pair<std::string, std::string>> named;
  for (const policy::Vpn& vpn : loaded.policy->vpns) {
    named.emplace_back(vpn.private_key_file, "the private key of VPN " + vpn.name);
  }
  if (loaded.policy->cloud) {
    named.emplace_back(loaded.policy->cloud->key_file, "the cloud bridge's TLS key");
  }
  for (const auto& [path, what] : named) {
    if (path.empty()) {
      continue;
    }
    // Through its directory's real path, as the files found in the directories are named:
    // a symlink or ".." on the way cannot make a file outside look inside.
    const fs::path given(path);
    keys.emplace((fs::path(real_dir(given.parent_path().string())) / given.filename()).string(),
                 what);
  }
  return keys;
}

bool is_key(const std::string& path, const Settings& settings,
            const std::map<std::string, std::string>& named_keys) {
  const std::string name = fs::path(path).filename().string();
  return path == settings.state_dir + "/audit-key.pem" ||
         is_under(path, settings.config_dir + "/keys") ||
         is_under(path, settings.config_dir + "/cloud") || name.ends_with(".key") ||
         name.ends_with(".pem") || named_keys.contains(path);
}

// Whether `path` is where a file system or a bind mount is mounted (a directory or a
// file), without following a symlink. Kernels that cannot say (STATX_ATTR_MOUNT_ROOT is
// 5.8's) are asked whether the device differs from the parent's.
Result mount_point(const std::string& path, dev_t parent_dev, bool& mounted) {
  struct statx status {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS,
              &status) != 0) {
    return io_failure(path, errno_code(), "read");
  }
  mounted = (status.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                ? (status.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0
                : makedev(status.stx_dev_major, status.stx_dev_minor) != parent_dev;
  return std::nullopt;
}

// Everything under `dir`, symlinks not followed and mount points not entered: directories
// to `dirs` (`dir` first), mount points to `left`, everything else to `files`.
Result walk(const std::string& dir, dev_t dev, std::set<std::string>& files,
            std::vector<std::string>& dirs, std::vector<Left>& left) {
  dirs.push_back(dir);
  std::vector<std::string> below;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string path = it->path().string();
    const fs::file_status type = it->symlink_status(error);
    if (error) {
      return io_failure(path, error, "read");
    }
    bool mounted = false;
    if (Result failed = mount_point(path, dev, mounted)) {
      return failed;
    }
    if (mounted) {
      left.push_back({path,
                      "a mount point (another file system or a bind mount): what is mounted "
                      "there is not these directories' own, so it is not entered, and the "
                      "directories above it stay"});
    } else if (fs::is_directory(type)) {
      below.push_back(path);
    } else {
      files.insert(path);
    }
  }
  if (error) {
    return io_failure(dir, error, "read");
  }
  for (const std::string& sub : below) {
    if (Result failed = walk(sub, dev, files, dirs, left)) {
      return failed;
    }
  }
  return std::nullopt;
}

// The named key files: inside the directories the walk found them (or notes why not);
// outside, they are listed as left, never destroyed.
void place_named_keys(const std::map<std::string, std::string>& named_keys,
                      const Settings& settings, Plan& plan) {
  for (const auto& [key, what] : named_keys) {
    const bool inside = is_under(key, settings.config_dir) || is_under(key, settings.state_dir);
    struct stat status {};
    const bool exists = ::lstat(key.c_str(), &status) == 0;
    if (inside && !exists) {
      plan.notes.push_back("the policy names " + key + " (" + what + "), which does not exist");
    } else if (inside && S_ISDIR(status.st_mode)) {
      plan.notes.push_back("the policy names " + key + " (" + what +
                           ") as a key file; it is a directory, destroyed as one");
    } else if (!inside && exists) {
      plan.left.push_back({key, "named by the policy as " + what + ", outside " +
                                    settings.config_dir + " and " + settings.state_dir +
                                    ": decommission destroys nothing outside them (destroy "
                                    "it by hand if nothing else uses it)"});
    }
  }
}

// The local broker's store: sekisho-broker's directory, outside both (unless a test or an
// unusual install put it inside one, where the walk destroys it like any other file).
void place_broker_store(const Settings& settings, Plan& plan) {
  const std::string& store = settings.broker_store;
  if (store.empty() || !exists_no_follow(store) || store == settings.config_dir ||
      store == settings.state_dir || is_under(store, settings.config_dir) ||
      is_under(store, settings.state_dir)) {
    return;
  }
  plan.left.push_back(
      {store,
       "the local broker's message store (the user sekisho-broker's): the messages "
       "queued for sekishod and for the publishers, and the broker's sessions, which "
       "name sekishod's login there (no password, no key); outside " +
           settings.config_dir + " and " + settings.state_dir +
           ": decommission destroys nothing outside them. Stop sekisho-broker.service, "
           "then 'apt-get purge sekisho' removes it, or by hand: rm -r " +
           store});
}

}  // namespace

Result make_plan(const Settings& settings, Plan& plan) {
  std::set<std::string> files;
  for (const std::string& dir : {settings.config_dir, settings.state_dir}) {
    struct stat status {};
    if (::lstat(dir.c_str(), &status) != 0) {
      if (errno != ENOENT) {
        return io_failure(dir, errno_code(), "read");
      }
      continue;
    }
    if (!S_ISDIR(status.st_mode)) {
      return Failure{kExitUsage, dir + " is not a directory"};
    }
    if (std::find(plan.dirs.begin(), plan.dirs.end(), dir) == plan.dirs.end()) {
      plan.roots.push_back({dir, status.st_dev, status.st_ino});
      if (Result failed = walk(dir, status.st_dev, files, plan.dirs, plan.left)) {
        return failed;
      }
    }
  }
  const std::map<std::string, std::string> named_keys =
      policy_keys(settings.config_dir, plan.notes);
  place_named_keys(named_keys, settings, plan);
  place_broker_store(settings, plan);
  for (const std::string& path : files) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0) {
      return io_failure(path, errno_code(), "read");
    }
    // Only a regular file can be overwritten: a link is never followed. A link's size is
    // that of the path it holds, which is what its line in the report hashes.
    const bool regular = S_ISREG(status.st_mode);
    const bool sized = regular || S_ISLNK(status.st_mode);
    bool key = regular && is_key(path, settings, named_keys);
    // Overwriting changes the content under every name the file has, and another name
    // may lie outside the directories: such a file is only unlinked.
    if (key && status.st_nlink > 1) {
      key = false;
      plan.notes.push_back(path + " has " + std::to_string(status.st_nlink) +
                           " hard links: its other names may lie outside these directories, "
                           "so it is unlinked, not overwritten; its content stays under them");
    }
    plan.files.push_back({path, key, sized ? static_cast<std::uint64_t>(status.st_size) : 0});
    if (S_ISLNK(status.st_mode)) {
      std::error_code error;
      plan.notes.push_back(path + " is a symbolic link (to " +
                           fs::read_symlink(path, error).string() +
                           "): the link is removed, what it points to is not");
    }
  }
  // A directory that holds a mount point cannot be emptied: it stays.
  std::erase_if(plan.dirs, [&](const std::string& dir) {
    return std::any_of(plan.left.begin(), plan.left.end(),
                       [&](const Left& left) { return is_under(left.path, dir); });
  });
  std::sort(plan.left.begin(), plan.left.end(),
            [](const Left& a, const Left& b) { return a.path < b.path; });
  // Children before their parents; the two directories may also nest.
  std::sort(plan.dirs.begin(), plan.dirs.end(), [](const std::string& a, const std::string& b) {
    const auto depth = [](const std::string& path) {
      return std::count(path.begin(), path.end(), '/');
    };
    return depth(a) != depth(b) ? depth(a) > depth(b) : a < b;
  });
  plan.dirs.erase(std::unique(plan.dirs.begin(), plan.dirs.end()), plan.dirs.end());
  return std::nullopt;
}

Result check_access(const Settings& settings, const Plan& plan) {
  const auto may = [](const std::string& path, int mode) -> Result {
    if (::faccessat(AT_FDCWD, path.c_str(), mode, AT_EACCESS) != 0) {
      return io_failure(path, errno_code(), "write to");
    }
    return std::nullopt;
  };
  for (const Target& file : plan.files) {
    if (Result failed = may(fs::path(file.path).parent_path().string(), W_OK | X_OK)) {
      return failed;
    }
    struct stat status {};
    if (::lstat(file.path.c_str(), &status) == 0 && S_ISREG(status.st_mode)) {
      if (Result failed = may(file.path, file.key ? R_OK | W_OK : R_OK)) {
        return failed;
      }
    }
  }
  for (const std::string& dir : plan.dirs) {
    if (Result failed = may(fs::path(dir).parent_path().string(), W_OK | X_OK)) {
      return failed;
    }
  }
  const std::string out_dir = fs::path(settings.out).parent_path().string();
  if (::faccessat(AT_FDCWD, out_dir.empty() ? "." : out_dir.c_str(), W_OK | X_OK, AT_EACCESS) !=
      0) {
    return io_failure(out_dir, errno_code(), "write the export into");
  }
  return std::nullopt;
}

}  // namespace sekisho::ctl::decommission
