#include "daemon/common/files.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sekisho {

namespace {

std::error_code last_error() {
  return std::error_code(errno, std::generic_category());
}

std::error_code write_all(int fd, std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return last_error();
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// A file made here, never one planted there (O_EXCL, O_NOFOLLOW), holding `text` with
// exactly `mode` (not what the umask leaves), on the disk before this returns. Removed
// again when any step fails.
std::error_code create_new(const std::string& path, std::string_view text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    return last_error();
  }
  std::error_code error = write_all(fd, text);
  if (!error && ::fchmod(fd, mode) < 0) {
    error = last_error();
  }
  if (!error && ::fsync(fd) < 0) {
    error = last_error();
  }
  if (::close(fd) < 0 && !error) {
    error = last_error();
  }
  if (error) {
    ::unlink(path.c_str());
  }
  return error;
}

}  // namespace

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

void sync_directory_of(const std::string& path) {
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

StagedFile::~StagedFile() {
  if (!temporary_.empty()) {
    ::unlink(temporary_.c_str());
  }
}

std::error_code StagedFile::write(const std::string& path, std::string_view text, mode_t mode) {
  path_ = path;
  const std::string temporary = path + ".new";
  // A fresh file, never one planted there (a symlink or a hard link to something else).
  if (::unlink(temporary.c_str()) < 0 && errno != ENOENT) {
    return last_error();
  }
  // The data must be on the disk before the rename makes it the file.
  if (std::error_code error = create_new(temporary, text, mode)) {
    return error;
  }
  temporary_ = temporary;
  return {};
}

std::error_code StagedFile::commit() {
  if (temporary_.empty()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (::rename(temporary_.c_str(), path_.c_str()) < 0) {
    return last_error();
  }
  temporary_.clear();
  // The rename itself must reach the disk before the file counts as written.
  sync_directory_of(path_);
  return {};
}

std::error_code write_file_atomically(const std::string& path, std::string_view text, mode_t mode) {
  StagedFile file;
  if (std::error_code error = file.write(path, text, mode)) {
    return error;
  }
  return file.commit();
}

std::error_code write_new_file(const std::string& path, std::string_view text, mode_t mode) {
  if (std::error_code error = create_new(path, text, mode)) {
    return error;
  }
  sync_directory_of(path);
  return {};
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes,
                                           std::error_code& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = last_error();
    return std::nullopt;
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      error = last_error();
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      error = std::make_error_code(std::errc::file_too_large);
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  error.clear();
  return text;
}

}  // namespace sekisho
