#pragma once
// The state directory belongs to one process at a time: sekishod for its whole life, or
// `sekishoctl decommission` while it destroys the directory. Two daemons appending to one
// audit log would break its chain, and a decommission under a running daemon would
// destroy files the daemon still writes.
//
// The lock is flock(LOCK_EX) on DIR/sekishod.lock: the kernel drops it when the holder
// exits, crashes included, so a stale lock file never blocks a restart.

#include <string>
#include <system_error>

namespace sekisho {

class StateLock {
 public:
  StateLock() = default;
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

  // Takes the lock without waiting. std::errc::operation_would_block (see busy()) when
  // another process, or another StateLock of this one, holds it; any other error (the
  // directory is missing, permission, a symlink planted as the lock file) as errno says.
  std::error_code acquire(const std::string& dir);
  static bool busy(const std::error_code& error);

  bool held() const { return fd_ >= 0; }
  void release();

  static std::string path_in(const std::string& dir);  // DIR/sekishod.lock

 private:
  int fd_ = -1;
};

}  // namespace sekisho
