// The plan of `sekishoctl decommission`: see decommission_plan.hpp.

#include "daemon/sekishoctl/decommission_plan.hpp"

#include <algorithm>
#include <cerrno>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
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

std::string real_dir(const std::string& dir) {
  std::error_code error;
  const fs::path canonical = fs::canonical(dir, error);
  return error ? fs::absolute(dir, error).lexically_normal().string() : canonical.string();
}

namespace {

// The key files the policy names, when CONFIG/policy.yaml loads: they may live anywhere.
std::set<std::string> policy_keys(const std::string& config_dir, std::vector<std::string>& notes) {
  std::set<std::string> keys;
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
  std::vector<std::string> named;
  for (const policy::Vpn& vpn : loaded.policy->vpns) {
    named.push_back(vpn.private_key_file);
  }
  if (loaded.policy->cloud) {
    named.push_back(loaded.policy->cloud->key_file);
  }
  for (const std::string& path : named) {
    if (path.empty()) {
      continue;
    }
    // Through its directory's real path, as the files found in the directories are named.
    const fs::path given(path);
    keys.insert((fs::path(real_dir(given.parent_path().string())) / given.filename()).string());
  }
  return keys;
}

bool is_key(const std::string& path, const Settings& settings,
            const std::set<std::string>& named_keys) {
  const std::string name = fs::path(path).filename().string();
  return path == settings.state_dir + "/audit-key.pem" ||
         is_under(path, settings.config_dir + "/keys") ||
         is_under(path, settings.config_dir + "/cloud") || name.ends_with(".key") ||
         name.ends_with(".pem") || named_keys.contains(path);
}

// Everything under `dir`, symlinks not followed: directories to `dirs` (`dir` first),
// everything else to `files`.
Result walk(const std::string& dir, std::set<std::string>& files, std::vector<std::string>& dirs) {
  dirs.push_back(dir);
  std::vector<std::string> below;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const fs::file_status type = it->symlink_status(error);
    if (error) {
      return io_failure(it->path().string(), error, "read");
    }
    if (fs::is_directory(type)) {
      below.push_back(it->path().string());
    } else {
      files.insert(it->path().string());
    }
  }
  if (error) {
    return io_failure(dir, error, "read");
  }
  for (const std::string& sub : below) {
    if (Result failed = walk(sub, files, dirs)) {
      return failed;
    }
  }
  return std::nullopt;
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
      if (Result failed = walk(dir, files, plan.dirs)) {
        return failed;
      }
    }
  }
  const std::set<std::string> named_keys = policy_keys(settings.config_dir, plan.notes);
  for (const std::string& key : named_keys) {
    struct stat status {};
    if (::lstat(key.c_str(), &status) != 0) {
      if (errno != ENOENT) {
        return io_failure(key, errno_code(), "read");
      }
      plan.notes.push_back("the policy names " + key + ", which does not exist");
    } else if (S_ISDIR(status.st_mode)) {
      plan.notes.push_back("the policy names " + key + " as a key file; it is a directory, left");
    } else {
      files.insert(key);
    }
  }
  for (const std::string& path : files) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0) {
      return io_failure(path, errno_code(), "read");
    }
    // Only a regular file can be overwritten: a link is never followed. A link's size is
    // that of the path it holds, which is what its line in the report hashes.
    const bool regular = S_ISREG(status.st_mode);
    const bool sized = regular || S_ISLNK(status.st_mode);
    plan.files.push_back({path, regular && is_key(path, settings, named_keys),
                          sized ? static_cast<std::uint64_t>(status.st_size) : 0});
    if (S_ISLNK(status.st_mode)) {
      std::error_code error;
      plan.notes.push_back(path + " is a symbolic link (to " +
                           fs::read_symlink(path, error).string() +
                           "): the link is removed, what it points to is not");
    }
  }
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
