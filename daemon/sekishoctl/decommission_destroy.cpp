// Destroying the files of a decommission: see decommission_destroy.hpp.

#include "daemon/sekishoctl/decommission_destroy.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <utility>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

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

// One file: its digest first, then (a key) overwritten, then unlinked. A symlink is
// removed without being followed; its "content" is the path it holds.
Result destroy_one(const Target& target, Destroyed& done) {
  const std::string& path = target.path;
  done = {path, "", 0, target.key};
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) {
    return io_failure(path, errno_code(), "read");
  }
  if (S_ISREG(status.st_mode)) {
    Fd fd(::open(path.c_str(), (target.key ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC));
    struct stat opened {};
    if (fd.get() < 0 || ::fstat(fd.get(), &opened) != 0) {
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
    if (target.key) {
      if (std::error_code error = overwrite(fd.get(), digest->second)) {
        return io_failure(path, error, "overwrite");
      }
    }
  } else {
    std::error_code error;
    const std::string content =
        S_ISLNK(status.st_mode) ? fs::read_symlink(path, error).string() : std::string();
    done.sha256 = sha256_hex(content);
    done.bytes = content.size();
  }
  if (::unlink(path.c_str()) != 0) {
    return io_failure(path, errno_code(), "unlink");
  }
  return std::nullopt;
}

}  // namespace

Result destroy(const Plan& plan, std::vector<Destroyed>& destroyed,
               std::vector<std::string>& removed_dirs) {
  for (const Target& target : plan.files) {
    // sqlite's -wal and -shm files of the audit log go away when the export closes it.
    struct stat status {};
    if (::lstat(target.path.c_str(), &status) != 0 && errno == ENOENT) {
      continue;
    }
    Destroyed done;
    if (Result failed = destroy_one(target, done)) {
      return failed;
    }
    destroyed.push_back(std::move(done));
  }
  for (const std::string& dir : plan.dirs) {
    if (::rmdir(dir.c_str()) != 0) {
      if (errno == ENOENT) {
        continue;
      }
      if (errno == ENOTEMPTY || errno == EEXIST) {
        return Failure{kExitNegative,
                       dir + " is not empty: something wrote to it during the decommission"};
      }
      return io_failure(dir, errno_code(), "remove");
    }
    removed_dirs.push_back(dir);
  }
  return std::nullopt;
}

}  // namespace sekisho::ctl::decommission
