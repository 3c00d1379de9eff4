#include "daemon/vpn/wireguard_go.hpp"

#include <chrono>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/vpn/uapi.hpp"

namespace sekisho::vpn {
namespace {

std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    return "exit status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "ended (status " + std::to_string(status) + ")";
}

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const char* interface, pid_t parent) {
  // Dies with sekishod: a tunnel nobody supervises is not left behind.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) {
    _exit(127);
  }
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
  }
  // Only stdin, stdout and stderr (the journal) go to wireguard-go.
  syscall(SYS_close_range, 3U, ~0U, 0U);
  char* const argv[] = {const_cast<char*>("wireguard-go"), const_cast<char*>("-f"),
                        const_cast<char*>(interface), nullptr};
  // WG_PROCESS_FOREGROUND=1 is what wireguard-go sets for itself when it runs detached;
  // here it also silences its banner about the kernel module.
  char* const envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
                        const_cast<char*>("WG_PROCESS_FOREGROUND=1"),
                        const_cast<char*>("LOG_LEVEL=error"), nullptr};
  execve(kWireguardGoProgram, argv, envp);
  _exit(127);
}

}  // namespace

WireguardGo::WireguardGo(boost::asio::io_context& io, std::string interface,
                         std::function<void(const std::string& how)> exited)
    : io_(io), interface_(std::move(interface)), exited_(std::move(exited)) {}

WireguardGo::~WireguardGo() {
  stop();
}

std::error_code WireguardGo::start(std::string& why) {
  if (running()) {
    return {};
  }
  if (::access(kWireguardGoProgram, X_OK) != 0) {
    std::error_code error(errno, std::system_category());
    why = std::string(kWireguardGoProgram) + ": " + error.message() +
          " (install the wireguard-go package, or load the wireguard kernel module)";
    return error;
  }
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    std::error_code error(errno, std::system_category());
    why = "fork: " + error.message();
    return error;
  }
  if (child == 0) {
    exec_child(interface_.c_str(), parent);
  }
  pid_ = child;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  if (pidfd >= 0) {
    pidfd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, pidfd);
  }
  // Ready when its UAPI socket answers.
  UapiControl control(uapi_socket_path(interface_));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::error_code error;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string ended = reap(false);
    if (!ended.empty()) {
      why = "wireguard-go " + ended + " before its socket answered";
      return std::make_error_code(std::errc::no_such_process);
    }
    WgDevice device;
    error = control.get(device);
    if (!error) {
      watch();
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  why = "wireguard-go did not answer on " + uapi_socket_path(interface_) + " within 5 s (" +
        error.message() + ")";
  stop();
  return std::make_error_code(std::errc::timed_out);
}

void WireguardGo::watch() {
  if (!pidfd_) {
    return;
  }
  pidfd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, pid = pid_](const boost::system::error_code& error) {
                       if (error || pid != pid_) {
                         return;  // cancelled by stop(), or an older child
                       }
                       std::string how = reap(true);
                       if (!how.empty() && exited_) {
                         exited_(how);
                       }
                     });
}

std::string WireguardGo::reap(bool wait) {
  if (pid_ <= 0) {
    return {};
  }
  int status = 0;
  pid_t done = ::waitpid(pid_, &status, wait ? 0 : WNOHANG);
  if (done != pid_) {
    return {};
  }
  pid_ = -1;
  pidfd_.reset();
  return describe_status(status);
}

void WireguardGo::stop() {
  if (pid_ <= 0) {
    return;
  }
  if (pidfd_) {
    pidfd_->cancel();
  }
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!reap(false).empty()) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  reap(true);
}

}  // namespace sekisho::vpn
