#include "daemon/common/child_process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <system_error>

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/common/fd.hpp"

namespace sekisho {
namespace {

std::string errno_text(int error) {
  return std::error_code(error, std::system_category()).message();
}

// The highest capability number this kernel knows.
int last_capability() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  in >> last;
  return in ? std::min(last, 63) : CAP_LAST_CAP;
}

// Why `credentials` cannot be taken, or empty.
std::string invalid_credentials(const ChildCredentials& credentials, const std::string& program) {
  constexpr auto kNoId = static_cast<uid_t>(-1);
  if (credentials.uid == kNoId || credentials.gid == static_cast<gid_t>(kNoId) ||
      std::find(credentials.groups.begin(), credentials.groups.end(), static_cast<gid_t>(kNoId)) !=
          credentials.groups.end()) {
    return "the user or a group of " + program + " is -1";
  }
  if (credentials.groups.size() > 64) {
    return program + " is given more than 64 groups";
  }
  const int last = last_capability();
  for (const int capability : credentials.capabilities) {
    if (capability < 0 || capability > last) {
      return "the capability " + std::to_string(capability) + " of " + program +
             " is not one this kernel has";
    }
  }
  return {};
}

// What the child needs to drop to ChildCredentials, made before fork.
struct Drop {
  bool wanted = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::uint64_t keep = 0;  // a bit per capability kept
  int last = 0;            // last_capability()
};

Drop drop_for(const ChildCommand& command) {
  Drop drop;
  if (!command.credentials) {
    return drop;
  }
  drop.wanted = true;
  drop.uid = command.credentials->uid;
  drop.gid = command.credentials->gid;
  drop.groups = command.credentials->groups;
  for (const int capability : command.credentials->capabilities) {
    drop.keep |= std::uint64_t{1} << capability;
  }
  drop.last = last_capability();
  return drop;
}

// In the child, async-signal-safe (raw system calls: glibc's set*id would signal threads
// the child does not have): the bounding set cut to the kept capabilities, the groups and
// ids set, the kept capabilities permitted, effective, inheritable and ambient, and
// no_new_privs; then read back. The change of credentials cleared the parent-death signal:
// set again (and the child gone at once if `parent` died meanwhile). 0, or the errno of the
// step that failed (EPERM when the read back differs).
int drop_privileges(const Drop& drop, pid_t parent) {
  for (int capability = 0; capability <= drop.last; ++capability) {
    if ((drop.keep & (std::uint64_t{1} << capability)) == 0 &&
        ::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) {
      return errno;
    }
  }
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 ||
      ::syscall(SYS_setgroups, drop.groups.size(), drop.groups.data()) != 0 ||
      ::syscall(SYS_setresgid, drop.gid, drop.gid, drop.gid) != 0 ||
      ::syscall(SYS_setresuid, drop.uid, drop.uid, drop.uid) != 0) {
    return errno;
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int half = 0; half < 2; ++half) {
    const auto bits = static_cast<std::uint32_t>(drop.keep >> (32 * half));
    data[half] = {bits, bits, bits};
  }
  if (::syscall(SYS_capset, &header, data) != 0) {
    return errno;
  }
  for (int capability = 0; capability <= drop.last; ++capability) {
    if ((drop.keep & (std::uint64_t{1} << capability)) != 0 &&
        ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability, 0, 0) != 0) {
      return errno;
    }
  }
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
    return errno;
  }
  if (::getppid() != parent) {
    ::_exit(127);
  }
  // Read back: exactly what was asked, or no start.
  uid_t uids[3];
  gid_t gids[3];
  __user_cap_data_struct now[2]{};
  if (::syscall(SYS_getresuid, &uids[0], &uids[1], &uids[2]) != 0 ||
      ::syscall(SYS_getresgid, &gids[0], &gids[1], &gids[2]) != 0 ||
      ::syscall(SYS_capget, &header, now) != 0) {
    return errno;
  }
  for (int index = 0; index < 3; ++index) {
    if (uids[index] != drop.uid || gids[index] != drop.gid) {
      return EPERM;
    }
  }
  for (int half = 0; half < 2; ++half) {
    if (now[half].effective != data[half].effective ||
        now[half].permitted != data[half].permitted) {
      return EPERM;
    }
  }
  return 0;
}

// Why `command` cannot be executed as it is, or empty.
std::string invalid_command(const ChildCommand& command) {
  if (command.program.empty() || command.program.front() != '/') {
    return "the program \"" + command.program + "\" is not an absolute path";
  }
  auto has_nul = [](const std::string& text) { return text.find('\0') != std::string::npos; };
  if (has_nul(command.program)) {
    return "the program's path contains a NUL byte";
  }
  for (const std::string& argument : command.arguments) {
    if (has_nul(argument)) {
      return "an argument of " + command.program + " contains a NUL byte";
    }
  }
  for (const std::string& variable : command.environment) {
    const auto equals = variable.find('=');
    if (has_nul(variable) || equals == std::string::npos || equals == 0) {
      return "an environment entry of " + command.program + " is not NAME=value";
    }
  }
  if (command.credentials) {
    return invalid_credentials(*command.credentials, command.program);
  }
  return {};
}

// Between fork and exec, in a process that may have other threads: only async-signal-safe
// calls, everything else prepared by the parent. A failure is reported through `error_fd`
// (close-on-exec: the parent reading end of file means the program runs).
[[noreturn]] void exec_child(const char* program, char* const argv[], char* const envp[],
                             int null_fd, int error_fd, pid_t parent, int channel_fd,
                             const Drop& drop) {
  auto fail = [error_fd](int error) {
    ssize_t written = ::write(error_fd, &error, sizeof error);
    (void)written;
    ::_exit(127);
  };
  if (const int error = prepare_child(parent, null_fd)) {
    fail(error);
  }
  int first_closed = STDERR_FILENO + 1;
  if (channel_fd >= 0) {
    if (error_fd == kChannelFd) {
      error_fd = ::fcntl(error_fd, F_DUPFD_CLOEXEC, kChannelFd + 1);
      if (error_fd < 0) {
        ::_exit(127);
      }
    }
    // dup2 clears close-on-exec on the copy; onto itself it would not.
    if (channel_fd == kChannelFd ? ::fcntl(kChannelFd, F_SETFD, 0) != 0
                                 : ::dup2(channel_fd, kChannelFd) < 0) {
      fail(errno);
    }
    first_closed = kChannelFd + 1;
  }
  // Every other descriptor closes at exec (the error pipe too).
  if (::close_range(first_closed, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    fail(errno);
  }
  if (drop.wanted) {
    if (const int error = drop_privileges(drop, parent)) {
      fail(error);
    }
  }
  ::execve(program, argv, envp);
  fail(errno);
  ::_exit(127);  // not reached: fail() exits
}

}  // namespace

pid_t fork_with_signals_blocked() {
  sigset_t all;
  sigset_t old_mask;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  const pid_t child = ::fork();
  if (child != 0) {
    const int fork_error = errno;
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    errno = fork_error;
  }
  return child;
}

int prepare_child(pid_t parent, int null_fd) {
  // Its own group, so that its owner can end what it started too (the parent sets it as
  // well: whichever comes first).
  ::setpgid(0, 0);
  // It dies with sekishod; if sekishod died before this took hold, now.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) {
    ::_exit(127);
  }
  // Ignored signals and the mask survive exec: sekishod's must not reach the program.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int number = 1; number < NSIG; ++number) {
    ::sigaction(number, &default_action, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::chdir("/") != 0) {
    return errno;
  }
  if (null_fd == STDIN_FILENO) {
    // Opened where sekishod had no stdin: dup2 onto itself would leave close-on-exec set.
    ::fcntl(STDIN_FILENO, F_SETFD, 0);
  } else if (::dup2(null_fd, STDIN_FILENO) < 0) {
    return errno;
  }
  return 0;
}

std::variant<SpawnedChild, std::string> spawn_child(const ChildCommand& command, int channel_fd) {
  if (std::string why = invalid_command(command); !why.empty()) {
    return why;
  }
  if (command.channel != (channel_fd >= 0)) {
    return "the channel of " + command.program + " has no descriptor";
  }
  // Above stdin, stdout and stderr, which the child's own take.
  std::optional<Fd> moved_channel;
  if (channel_fd >= 0 && channel_fd <= STDERR_FILENO) {
    moved_channel.emplace(::fcntl(channel_fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1));
    if (moved_channel->get() < 0) {
      return "the channel of " + command.program + ": " + errno_text(errno);
    }
    channel_fd = moved_channel->get();
  }
  const Drop drop = drop_for(command);
  // Everything the child needs, made before fork (it may not allocate).
  std::vector<std::string> argv_text{command.program};
  argv_text.insert(argv_text.end(), command.arguments.begin(), command.arguments.end());
  std::vector<std::string> envp_text = command.environment;
  if (command.channel) {
    envp_text.push_back("SEKISHO_CHANNEL_FD=" + std::to_string(kChannelFd));
  }
  std::vector<char*> argv;
  std::vector<char*> envp;
  for (std::string& text : argv_text) {
    argv.push_back(text.data());
  }
  argv.push_back(nullptr);
  for (std::string& text : envp_text) {
    envp.push_back(text.data());
  }
  envp.push_back(nullptr);

  Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) {
    return "/dev/null: " + errno_text(errno);
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return "pipe: " + errno_text(errno);
  }
  Fd error_read(pipe_fds[0]);
  auto error_write = std::make_unique<Fd>(pipe_fds[1]);

  const pid_t parent = ::getpid();
  const pid_t child = fork_with_signals_blocked();
  const int fork_error = errno;
  if (child == 0) {
    exec_child(argv[0], argv.data(), envp.data(), null_fd.get(), error_write->get(), parent,
               channel_fd, drop);
  }
  if (child < 0) {
    return "fork: " + errno_text(fork_error);
  }
  error_write.reset();
  return await_exec(child, error_read.get(), command.program);
}

std::variant<SpawnedChild, std::string> await_exec(pid_t child, int error_read,
                                                   const std::string& program) {
  // Also here, so that the group exists when this returns (EACCES once the child has
  // exec'd, having set it itself).
  ::setpgid(child, child);
  // Through syscall(): glibc 2.36's <sys/pidfd.h> declares pidfd_open without extern "C".
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  const int pidfd_error = errno;
  // Until the child has exec'd or failed to: the pipe closes then, without waiting for
  // the program itself.
  int exec_error = 0;
  ssize_t got;
  do {
    got = ::read(error_read, &exec_error, sizeof exec_error);
  } while (got < 0 && errno == EINTR);
  if (pidfd < 0) {
    // Before the wait, while the pid (and the group's number) is still ours.
    ::kill(-child, SIGKILL);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return "pidfd_open: " + errno_text(pidfd_error);
  }
  if (got == static_cast<ssize_t>(sizeof exec_error)) {
    reap_child(child, pidfd);
    ::close(pidfd);
    return "could not run " + program + ": " + errno_text(exec_error);
  }
  return SpawnedChild{child, pidfd};
}

void signal_child_group(pid_t pid, int signal) {
  if (pid > 0) {
    ::kill(-pid, signal);
  }
}

bool wait_for_child(int pidfd, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    // Rounded up: poll() must not give up before the deadline.
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd ended{pidfd, POLLIN, 0};
    const int ready = ::poll(&ended, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (ready > 0) {
      return true;
    }
    if (ready < 0 && errno != EINTR) {
      return false;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
  }
}

ChildExit reap_child(pid_t pid, int pidfd) {
  signal_child_group(pid, SIGKILL);
  for (;;) {
    // WNOHANG and a poll() for the end: on a pidfd that Asio has made non-blocking,
    // waitid(P_PIDFD) does not wait.
    siginfo_t info{};
    const int done = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                              WEXITED | WNOHANG);
    if (done == 0 && info.si_pid != 0) {
      ChildExit exit;
      if (info.si_code == CLD_EXITED) {
        exit.exit_code = info.si_status;
      } else {
        exit.signal = info.si_status;
      }
      return exit;
    }
    if (done != 0 && errno != EINTR && errno != EAGAIN) {
      return {};  // ECHILD: nothing left to reap
    }
    pollfd ended{pidfd, POLLIN, 0};
    ::poll(&ended, 1, -1);
  }
}

}  // namespace sekisho
