#include "daemon/wan/power_hook.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "daemon/common/child_process.hpp"

namespace sekisho::wan {
namespace {

// A descriptor owned by one place at a time (daemon/common/fd.hpp's Fd cannot be moved).
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() { reset(); }
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.fd_, -1));
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::string errno_text(int error) {
  return std::system_category().message(error);
}

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The components of an absolute path without "." or ".." (empty ones, from "//" or a
// trailing "/", dropped), or why the path is not one.
std::optional<std::string> split_path(const std::string& path, std::vector<std::string>& parts) {
  if (path.find('\0') != std::string::npos) {
    return "the path \"" + path.substr(0, path.find('\0')) + "\" contains a NUL byte";
  }
  if (path.empty() || path.front() != '/') {
    return "\"" + path + "\" is not an absolute path";
  }
  parts.clear();
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) {
      end = path.size();
    }
    std::string part = path.substr(start, end - start);
    if (part == "." || part == "..") {
      // Refused rather than resolved: a hook's path is written by hand and has no reason
      // for them, and resolving ".." lexically can name something else than the kernel
      // would.
      return path + " contains \"" + part + "\"";
    }
    if (!part.empty()) {
      parts.push_back(std::move(part));
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::string writers(mode_t mode) {
  if ((mode & S_IWGRP) && (mode & S_IWOTH)) {
    return "its group and by others";
  }
  return (mode & S_IWGRP) ? "its group" : "others";
}

// A directory on the way to the hook. `above` is true for the directories above hooks_dir,
// where a sticky directory may be writable (see the header).
std::optional<std::string> untrusted_directory(const std::string& name, const struct stat& st,
                                               bool above) {
  if (!S_ISDIR(st.st_mode)) {
    return name + " is not a directory";
  }
  if (st.st_uid != 0) {
    return name + " is owned by uid " + std::to_string(st.st_uid) + ", not root";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(above && (st.st_mode & S_ISVTX))) {
    return name + " is writable by " + writers(st.st_mode) + " (mode " + mode_text(st.st_mode) +
           ")";
  }
  return std::nullopt;
}

std::optional<std::string> untrusted_file(const std::string& name, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) {
    return name + " is not a regular file";
  }
  if (st.st_uid != 0) {
    return name + " is owned by uid " + std::to_string(st.st_uid) + ", not root";
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return name + " is writable by " + writers(st.st_mode) + " (mode " + mode_text(st.st_mode) +
           ")";
  }
  if (!(st.st_mode & S_IXUSR)) {
    return name + " is not executable (mode " + mode_text(st.st_mode) + ")";
  }
  return std::nullopt;
}

// The trust check, leaving `hook` holding an O_PATH descriptor of the checked file. Every
// step is an openat relative to the directory checked before it, without following a
// symbolic link, so what was checked is what the descriptor names: nothing is resolved
// by path twice.
std::optional<std::string> open_trusted(const std::string& path, const std::string& hooks_dir,
                                        OwnedFd& hook) {
  std::vector<std::string> dir_parts;
  std::vector<std::string> parts;
  if (auto why = split_path(hooks_dir, dir_parts)) {
    return "hooks directory: " + *why;
  }
  if (auto why = split_path(path, parts)) {
    return *why;
  }
  bool inside = parts.size() > dir_parts.size();
  for (std::size_t i = 0; inside && i < dir_parts.size(); ++i) {
    inside = parts[i] == dir_parts[i];
  }
  if (!inside) {
    return path + " is not inside " + hooks_dir;
  }

  OwnedFd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    return "/: " + errno_text(errno);
  }
  struct stat st {};
  if (::fstat(dir.get(), &st) != 0) {
    return "/: " + errno_text(errno);
  }
  if (auto why = untrusted_directory("/", st, !dir_parts.empty())) {
    return why;
  }
  std::string name;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    name += "/" + parts[i];
    OwnedFd next(::openat(dir.get(), parts[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0) {
      const int error = errno;
      if (error == ENOENT) {
        return name + " does not exist";
      }
      return name + ": " + errno_text(error);
    }
    if (::fstat(next.get(), &st) != 0) {
      return name + ": " + errno_text(errno);
    }
    if (S_ISLNK(st.st_mode)) {
      return name + " is a symbolic link";
    }
    const bool last = i + 1 == parts.size();
    auto why =
        last ? untrusted_file(name, st) : untrusted_directory(name, st, i + 1 < dir_parts.size());
    if (why) {
      return why;
    }
    dir = std::move(next);
  }
  hook = std::move(dir);
  return std::nullopt;
}

std::string duration_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms < 1000) {
    return std::to_string(ms) + " ms";
  }
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + " s";
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms) / 1000.0);
  return text;
}

// Between fork and exec, in a process that may have other threads: only async-signal-safe
// calls, everything else prepared by the parent.
[[noreturn]] void exec_child(int hook_fd, int null_fd, int error_fd, pid_t parent,
                             char* const argv[], char* const envp[]) {
  auto fail = [&error_fd](int error) {
    // The parent reads the errno from the close-on-exec pipe: end of file means exec'd.
    ssize_t written = ::write(error_fd, &error, sizeof error);
    (void)written;
    ::_exit(127);
  };
  // Its own process group, so that the timeout kills what it started too; it dies with
  // sekishod, so the timeout holds even if nobody is left to enforce it. (The death signal
  // follows the thread that forked: the one running the io_context.)
  if (const int error = prepare_child(parent, null_fd)) {
    fail(error);
  }
  // The hook's descriptor to 3 and the pipe to 4, through numbers above 4 so that neither
  // overwrites the other; then everything from 5 up is closed.
  const int hook_high = ::fcntl(hook_fd, F_DUPFD_CLOEXEC, 5);
  const int error_high = ::fcntl(error_fd, F_DUPFD_CLOEXEC, 5);
  if (hook_high < 0 || error_high < 0) {
    fail(errno);
  }
  if (::dup2(error_high, 4) < 0) {
    fail(errno);
  }
  error_fd = 4;
  ::fcntl(error_fd, F_SETFD, FD_CLOEXEC);
  if (::dup2(hook_high, 3) < 0) {
    fail(errno);
  }
  ::close_range(5, ~0U, 0);
  // A binary runs from a close-on-exec descriptor and keeps none. For a script the kernel
  // refuses that with ENOENT (its interpreter would find /dev/fd/3 closed): then again
  // with descriptor 3 left open.
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  ::execveat(3, "", argv, envp, AT_EMPTY_PATH);
  if (errno == ENOENT) {
    ::fcntl(3, F_SETFD, 0);
    ::execveat(3, "", argv, envp, AT_EMPTY_PATH);
  }
  fail(errno);
  ::_exit(127);  // not reached: fail() exits
}

struct Request {
  std::string path;
  std::string hooks_dir;
  std::string argument;
  std::chrono::milliseconds timeout{};
  std::function<void(HookResult)> done;
};

}  // namespace

bool HookResult::ok() const {
  return error.empty() && !timed_out && signal == 0 && exit_status == 0;
}

std::string HookResult::describe() const {
  if (!error.empty()) {
    return "not run: " + error;
  }
  if (timed_out) {
    return "killed after the " + duration_text(timeout) + " timeout";
  }
  if (signal != 0) {
    const char* name = ::sigabbrev_np(signal);
    return "killed by " + (name ? "SIG" + std::string(name) : "signal " + std::to_string(signal)) +
           " after " + duration_text(took);
  }
  return "exited " + std::to_string(exit_status) + " after " + duration_text(took);
}

std::optional<std::string> untrusted_hook(const std::string& path, const std::string& hooks_dir) {
  OwnedFd hook;
  return open_trusted(path, hooks_dir, hook);
}

// Shared with the handlers in flight, which may run after the PowerHook is gone: they
// find `closed` set and do nothing.
struct PowerHook::State : std::enable_shared_from_this<PowerHook::State> {
  explicit State(boost::asio::io_context& context) : io(context), timer(context) {}

  boost::asio::io_context& io;
  boost::asio::steady_timer timer;
  bool closed = false;
  // The running hook; `generation` tells a stale timer or wait (of an earlier run) from
  // the current one.
  bool active = false;
  std::uint64_t generation = 0;
  Request current;
  pid_t pid = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd;
  std::chrono::steady_clock::time_point started;
  bool timer_fired = false;
  // The one run that waits for the current one to end.
  std::optional<Request> waiting;

  // `done` from the io_context, never from inside run(), and not after the PowerHook died.
  void deliver(std::function<void(HookResult)> done, HookResult result) {
    boost::asio::post(io, [self = shared_from_this(), done = std::move(done),
                           result = std::move(result)]() mutable {
      if (!self->closed && done) {
        done(std::move(result));
      }
    });
  }

  void refuse(Request& request, std::string why) {
    HookResult result;
    result.argument = request.argument;
    result.timeout = request.timeout;
    result.error = std::move(why);
    deliver(std::move(request.done), std::move(result));
  }

  void start(Request request);
  void watch();
  void finish();
  // SIGKILL to the hook's process group, and the hook reaped: for the destructor.
  void kill_and_reap();
};

void PowerHook::State::start(Request request) {
  if (request.argument != "on" && request.argument != "off") {
    refuse(request,
           "the power hook's argument must be \"on\" or \"off\", not \"" + request.argument + "\"");
    return;
  }
  if (request.timeout <= std::chrono::milliseconds::zero()) {
    refuse(request, "the power hook's timeout must be positive");
    return;
  }
  OwnedFd hook;
  if (auto why = open_trusted(request.path, request.hooks_dir, hook)) {
    refuse(request, "refused: " + *why);
    return;
  }
  OwnedFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) {
    refuse(request, "/dev/null: " + errno_text(errno));
    return;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    refuse(request, "pipe: " + errno_text(errno));
    return;
  }
  OwnedFd error_read(pipe_fds[0]);
  OwnedFd error_write(pipe_fds[1]);

  // Everything the child needs, made before fork (it may not allocate).
  std::string argv0 = request.path;
  std::string argv1 = request.argument;
  char* const argv[] = {argv0.data(), argv1.data(), nullptr};
  char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char lang_env[] = "LANG=C.UTF-8";
  char* const envp[] = {path_env, lang_env, nullptr};

  const pid_t parent = ::getpid();
  const auto began = std::chrono::steady_clock::now();
  // Every signal blocked across fork: until the child has put its dispositions back to
  // default, a signal would run sekishod's handler in it (Asio's signal_set would tell
  // sekishod's loop of a SIGTERM meant for the child).
  const pid_t child = fork_with_signals_blocked();
  const int fork_error = errno;
  if (child == 0) {
    exec_child(hook.get(), null_fd.get(), error_write.get(), parent, argv, envp);
  }
  if (child < 0) {
    refuse(request, "fork: " + errno_text(fork_error));
    return;
  }
  error_write.reset();
  auto spawned = await_exec(child, error_read.get(), request.path);
  if (auto* why = std::get_if<std::string>(&spawned)) {
    refuse(request, std::move(*why));
    return;
  }
  OwnedFd process(std::get<SpawnedChild>(spawned).pidfd);

  active = true;
  ++generation;
  current = std::move(request);
  pid = child;
  started = began;
  timer_fired = false;
  pidfd = std::make_unique<boost::asio::posix::stream_descriptor>(io, process.release());
  timer.expires_after(current.timeout);
  timer.async_wait([self = shared_from_this(), run = generation](boost::system::error_code error) {
    if (error || self->closed || !self->active || run != self->generation) {
      return;
    }
    self->timer_fired = true;
    // The hook has not been reaped: its pid still holds the group's number.
    ::kill(-self->pid, SIGKILL);
  });
  watch();
}

void PowerHook::State::watch() {
  pidfd->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [self = shared_from_this(), run = generation](boost::system::error_code error) {
                      if (error || self->closed || !self->active || run != self->generation) {
                        return;
                      }
                      self->finish();
                    });
}

void PowerHook::State::finish() {
  // Whatever the hook left running in its group goes with it, before the hook is reaped
  // (afterwards the group's number could belong to someone else): reap_child does both.
  const ChildExit exit = reap_child(pid, pidfd->native_handle());
  HookResult result;
  result.argument = current.argument;
  result.timeout = current.timeout;
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (exit.signal == 0) {
    result.exit_status = exit.exit_code;
  } else {
    result.signal = exit.signal;
    // A hook that exited by itself just as the timer fired did not time out.
    result.timed_out = timer_fired;
  }
  active = false;
  pid = -1;
  pidfd.reset();
  timer.cancel();
  deliver(std::move(current.done), std::move(result));
  current = Request{};
  if (waiting) {
    Request next = std::move(*waiting);
    waiting.reset();
    start(std::move(next));
  }
}

void PowerHook::State::kill_and_reap() {
  if (!active) {
    return;
  }
  reap_child(pid, pidfd->native_handle());
  active = false;
  pid = -1;
  pidfd.reset();
}

PowerHook::PowerHook(boost::asio::io_context& io) : state_(std::make_shared<State>(io)) {}

PowerHook::~PowerHook() {
  state_->closed = true;
  state_->kill_and_reap();
  state_->timer.cancel();
  state_->waiting.reset();
  state_->current = Request{};
}

void PowerHook::run(const std::string& path, const std::string& hooks_dir,
                    const std::string& argument, std::chrono::milliseconds timeout,
                    std::function<void(HookResult)> done) {
  Request request{path, hooks_dir, argument, timeout, std::move(done)};
  if (!state_->active) {
    state_->start(std::move(request));
    return;
  }
  if (state_->waiting) {
    state_->refuse(*state_->waiting, "superseded by a later \"" + request.argument + "\" request");
  }
  state_->waiting = std::move(request);
}

bool PowerHook::running() const {
  return state_->active;
}

}  // namespace sekisho::wan
