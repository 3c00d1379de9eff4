#include "daemon/common/state_lock.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace sekisho {

StateLock::~StateLock() {
  release();
}

std::string StateLock::path_in(const std::string& dir) {
  return dir + "/sekishod.lock";
}

std::error_code StateLock::acquire(const std::string& dir) {
  release();
  // O_NOFOLLOW: a symlink planted as the lock file must not make us create or lock
  // something elsewhere.
  const int fd =
      ::open(path_in(dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0) {
    return std::error_code(errno, std::generic_category());
  }
  int result;
  do {
    result = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (result < 0 && errno == EINTR);
  if (result < 0) {
    const int error = errno;
    ::close(fd);
    return std::error_code(error, std::generic_category());
  }
  fd_ = fd;
  return {};
}

bool StateLock::busy(const std::error_code& error) {
  return error == std::errc::operation_would_block;
}

void StateLock::release() {
  // Closing the only descriptor of the open file drops the flock.
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace sekisho
