#pragma once
// One descriptor held in reserve. When the process's descriptor table is full (EMFILE: a
// local user holding connections, say), a file the daemon must write (the WAN link's
// recording, without which it would not set the link down) is written all the same: the
// spare is given up for the moment the write needs, and taken again after.

#include <system_error>

#include <sys/eventfd.h>
#include <unistd.h>

namespace sekisho {

class SpareDescriptor {
 public:
  SpareDescriptor() = default;
  ~SpareDescriptor() { release(); }
  SpareDescriptor(const SpareDescriptor&) = delete;
  SpareDescriptor& operator=(const SpareDescriptor&) = delete;

  // Takes one, unless one is held (or none is free: then later).
  void take() {
    if (fd_ < 0) {
      fd_ = ::eventfd(0, EFD_CLOEXEC);
    }
  }

  // Runs `work` (returning a std::error_code); when that failed for want of a descriptor,
  // runs it once more with the spare given up for it.
  template <typename Work>
  std::error_code with_spare(Work work) {
    std::error_code error = work();
    if (error != std::errc::too_many_files_open &&
        error != std::errc::too_many_files_open_in_system) {
      return error;
    }
    release();
    error = work();
    take();
    return error;
  }

 private:
  void release() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  int fd_ = -1;
};

}  // namespace sekisho
