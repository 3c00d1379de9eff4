#include "daemon/sekishod/last_good.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sekisho::daemon {

namespace {

std::error_code last_error() {
  return std::error_code(errno, std::generic_category());
}

std::error_code write_all(int fd, const std::string& text) {
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

}  // namespace

std::string last_good_path(const std::string& state_dir) {
  return state_dir + "/last-good.yaml";
}

std::error_code save_last_good(const std::string& state_dir, const std::string& policy_text) {
  if (::mkdir(state_dir.c_str(), 0700) < 0 && errno != EEXIST) {
    return last_error();
  }
  const std::string path = last_good_path(state_dir);
  const std::string temporary = path + ".new";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return last_error();
  }
  std::error_code error = write_all(fd, policy_text);
  if (!error && ::fsync(fd) < 0) {
    error = last_error();
  }
  ::close(fd);
  if (!error && ::rename(temporary.c_str(), path.c_str()) < 0) {
    error = last_error();
  }
  if (error) {
    ::unlink(temporary.c_str());
    return error;
  }
  // The rename itself must reach the disk before we call the copy saved.
  const int dir = ::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

}  // namespace sekisho::daemon
