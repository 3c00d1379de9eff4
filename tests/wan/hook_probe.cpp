// A power hook for tests/wan/power_hook_test.cpp: a binary (a script would see $0 as
// /dev/fd/3, see power_hook.hpp), copied into the test's hooks directory. It writes what it
// was started with to "<its own file>.out" (found through /proc/self/exe, not argv[0], which
// is under test), one "key value" per line, and exits 0.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  // The descriptors first, before this program opens any of its own.
  std::vector<std::string> fds;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.' && std::atoi(entry->d_name) != ::dirfd(dir)) {
        fds.emplace_back(entry->d_name);
      }
    }
    ::closedir(dir);
  }
  char exe[4096];
  const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (length <= 0) {
    return 100;
  }
  const std::string out = std::string(exe, static_cast<std::size_t>(length)) + ".out";
  FILE* file = std::fopen(out.c_str(), "we");
  if (file == nullptr) {
    return 101;
  }
  for (int i = 0; i < argc; ++i) {
    std::fprintf(file, "argv %s\n", argv[i]);
  }
  for (char** variable = environ; *variable != nullptr; ++variable) {
    std::fprintf(file, "env %s\n", *variable);
  }
  for (const std::string& fd : fds) {
    std::fprintf(file, "fd %s\n", fd.c_str());
  }
  char cwd[4096];
  std::fprintf(file, "cwd %s\n", ::getcwd(cwd, sizeof cwd) ? cwd : "?");
  std::fprintf(file, "own_group %d\n", ::getpgrp() == ::getpid() ? 1 : 0);
  struct stat in {};
  struct stat null {};
  const bool stdin_null = ::fstat(STDIN_FILENO, &in) == 0 && ::stat("/dev/null", &null) == 0 &&
                          S_ISCHR(in.st_mode) && in.st_rdev == null.st_rdev;
  std::fprintf(file, "stdin_null %d\n", stdin_null ? 1 : 0);
  sigset_t blocked;
  ::sigprocmask(SIG_SETMASK, nullptr, &blocked);
  std::fprintf(file, "usr1_blocked %d\n", ::sigismember(&blocked, SIGUSR1));
  struct sigaction pipe_action {};
  ::sigaction(SIGPIPE, nullptr, &pipe_action);
  std::fprintf(file, "sigpipe_default %d\n", pipe_action.sa_handler == SIG_DFL ? 1 : 0);
  return std::fclose(file) == 0 ? 0 : 102;
}
