#pragma once
// An open file descriptor owned by one scope.

#include <unistd.h>

namespace sekisho {

// Closes the descriptor when it goes out of scope; -1 holds nothing.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace sekisho
