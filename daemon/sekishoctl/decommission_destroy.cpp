// Destroying the files of a decommission: see decommission_destroy.hpp.

#include "daemon/sekishoctl/decommission_destroy.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <utility>

#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/common/sha256.hpp"

namespace sekisho::ctl::decommission {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunk = std::size_t{64} * 1024;

// SHA-256 and length of what `fd` holds, read from its start.
std::optional<std::pair<std::string, std::uint64_t>> digest_of(int fd) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  if (!context || EVP_DigestInit_ex(context, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(context);
    return std::nullopt;
  }
  std::vector<char> buffer(kChunk);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(total));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      if (n < 0) {
        EVP_MD_CTX_free(context);
        return std::nullopt;
      }
      break;
    }
    EVP_DigestUpdate(context, buffer.data(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  return std::make_pair(to_hex(digest, length), total);
}

// Random bytes over the whole file, in place, on the disk before it is unlinked: what the
// file system still holds of the key is noise (but see kFlashWarning in
// cmd_decommission.cpp).
std::error_code overwrite(int fd, std::uint64_t bytes) {
  std::vector<unsigned char> noise(kChunk);
  for (std::uint64_t done = 0; done < bytes;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, bytes - done));
    if (RAND_bytes(noise.data(), static_cast<int>(n)) != 1) {
      return std::make_error_code(std::errc::io_error);
    }
    const ssize_t wrote = ::pwrite(fd, noise.data(), n, static_cast<off_t>(done));
    if (wrote < 0 && errno != EINTR) {
      return errno_code();
    }
    done += static_cast<std::uint64_t>(std::max<ssize_t>(wrote, 0));
  }
  return ::fsync(fd) == 0 ? std::error_code() : errno_code();
}

// Opens `relative` below the open directory `dir` without following a symlink (the last
// component included: ELOOP), leaving the file system (a mount point, a bind mount: EXDEV)
// or climbing out with "..": a path the plan found inside cannot have been turned into a
// way outside since. "" opens `dir` again.
int open_beneath(int dir, const std::string& relative, std::uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(
      ::syscall(SYS_openat2, dir, relative.empty() ? "." : relative.c_str(), &how, sizeof how));
}

Failure open_failure(const std::string& path, const std::string& root) {
  const int error = errno;
  if (error == ELOOP || error == EXDEV || error == ENOTDIR) {
    return Failure{kExitNegative, path + " is no longer reached inside " + root +
                                      " without a symbolic link or a mount point: it changed "
                                      "during the decommission"};
  }
  return io_failure(path, std::error_code(error, std::generic_category()), "open");
}

// The plan's root that holds `path` (the deepest, if they nest).
const Root* root_of(const Plan& plan, const std::string& path) {
  const Root* found = nullptr;
  for (const Root& root : plan.roots) {
    if (is_under(path, root.path) && (!found || is_under(root.path, found->path))) {
      found = &root;
    }
  }
  return found;
}

// The directory that holds `path` (which lies below a root of the plan), opened beneath
// that root, which must still be the directory the plan walked.
Result open_parent(const Plan& plan, const std::string& path, std::optional<Fd>& parent) {
  const Root* root = root_of(plan, path);
  if (!root) {
    return Failure{kExitNegative, path + " is outside the directories being destroyed"};
  }
  Fd top(::open(root->path.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat status {};
  if (top.get() < 0 || ::fstat(top.get(), &status) != 0) {
    return io_failure(root->path, errno_code(), "open");
  }
  if (status.st_dev != root->dev || status.st_ino != root->ino) {
    return Failure{kExitNegative, root->path + " was replaced during the decommission"};
  }
  const fs::path relative = fs::path(path).parent_path().lexically_relative(root->path);
  parent.emplace(
      open_beneath(top.get(), relative == "." ? "" : relative.string(), O_PATH | O_DIRECTORY));
  if (parent->get() < 0) {
    return open_failure(fs::path(path).parent_path().string(), root->path);
  }
  return std::nullopt;
}

// One file: its digest first, then (a key) overwritten, then unlinked. A symlink is
// removed without being followed; its "content" is the path it holds. Every step names
// the file relative to its directory, opened beneath the plan's root.
Result destroy_one(const Plan& plan, const Target& target, Destroyed& done, bool& gone) {
  const std::string& path = target.path;
  const std::string name = fs::path(path).filename().string();
  done = {path, "", 0, target.key};
  std::optional<Fd> parent;
  if (Result failed = open_parent(plan, path, parent)) {
    return failed;
  }
  struct stat status {};
  if (::fstatat(parent->get(), name.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0) {
    // sqlite's -wal and -shm files of the audit log go away when the export closes it.
    gone = errno == ENOENT;
    return gone ? Result() : io_failure(path, errno_code(), "read");
  }
  if (S_ISREG(status.st_mode)) {
    Fd fd(open_beneath(parent->get(), name, target.key ? O_RDWR : O_RDONLY));
    struct stat opened {};
    if (fd.get() < 0) {
      return open_failure(path, fs::path(path).parent_path().string());
    }
    if (::fstat(fd.get(), &opened) != 0) {
      return io_failure(path, errno_code(), "open");
    }
    if (opened.st_dev != status.st_dev || opened.st_ino != status.st_ino) {
      return Failure{kExitNegative, path + " was replaced while it was being destroyed"};
    }
    const auto digest = digest_of(fd.get());
    if (!digest) {
      return io_failure(path, errno_code(), "read");
    }
    done.sha256 = digest->first;
    done.bytes = digest->second;
    // A hard link made since the plan: its other name may lie outside; unlinked only.
    done.key = target.key && opened.st_nlink == 1;
    if (done.key) {
      if (std::error_code error = overwrite(fd.get(), digest->second)) {
        return io_failure(path, error, "overwrite");
      }
    }
  } else {
    std::string content;
    if (S_ISLNK(status.st_mode)) {
      std::vector<char> buffer(static_cast<std::size_t>(status.st_size) + 1);
      const ssize_t n = ::readlinkat(parent->get(), name.c_str(), buffer.data(), buffer.size());
      if (n < 0) {
        return io_failure(path, errno_code(), "read");
      }
      content.assign(buffer.data(), static_cast<std::size_t>(n));
    }
    done.sha256 = sha256_hex(content);
    done.bytes = content.size();
  }
  if (::unlinkat(parent->get(), name.c_str(), 0) != 0) {
    return io_failure(path, errno_code(), "unlink");
  }
  return std::nullopt;
}

// An emptied directory: below a root through its parent opened beneath that root; a root
// itself only while it is still the directory the plan walked.
Result remove_dir(const Plan& plan, const std::string& dir, bool& gone) {
  const std::string name = fs::path(dir).filename().string();
  std::optional<Fd> parent;
  const auto root = std::find_if(plan.roots.begin(), plan.roots.end(),
                                 [&](const Root& r) { return r.path == dir; });
  if (root != plan.roots.end() && !root_of(plan, dir)) {
    parent.emplace(::open(fs::path(dir).parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat status {};
    if (parent->get() < 0 ||
        ::fstatat(parent->get(), name.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0) {
      gone = errno == ENOENT;
      return gone ? Result() : io_failure(dir, errno_code(), "read");
    }
    if (status.st_dev != root->dev || status.st_ino != root->ino) {
      return Failure{kExitNegative, dir + " was replaced during the decommission"};
    }
  } else if (Result failed = open_parent(plan, dir, parent)) {
    return failed;
  }
  if (::unlinkat(parent->get(), name.c_str(), AT_REMOVEDIR) != 0) {
    if (errno == ENOENT) {
      gone = true;
      return std::nullopt;
    }
    if (errno == ENOTEMPTY || errno == EEXIST) {
      return Failure{kExitNegative,
                     dir + " is not empty: something wrote to it during the decommission"};
    }
    return io_failure(dir, errno_code(), "remove");
  }
  return std::nullopt;
}

}  // namespace

Result destroy(const Plan& plan, std::vector<Destroyed>& destroyed,
               std::vector<std::string>& removed_dirs) {
  for (const Target& target : plan.files) {
    Destroyed done;
    bool gone = false;
    if (Result failed = destroy_one(plan, target, done, gone)) {
      return failed;
    }
    if (!gone) {
      destroyed.push_back(std::move(done));
    }
  }
  for (const std::string& dir : plan.dirs) {
    bool gone = false;
    if (Result failed = remove_dir(plan, dir, gone)) {
      return failed;
    }
    if (!gone) {
      removed_dirs.push_back(dir);
    }
  }
  return std::nullopt;
}

}  // namespace sekisho::ctl::decommission
