#pragma once
// wireguard-go, the userspace WireGuard, as a child of sekishod: the only program the
// daemon ever executes. It runs in the foreground (-f) on one interface, dies with
// sekishod (PR_SET_PDEATHSIG), and is watched through a pidfd so that its exit reaches the
// event loop at once. Restarting it is the owner's decision (tunnel.hpp).

#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <sys/types.h>

namespace sekisho::vpn {

// Where Debian's wireguard-go package installs it; never looked up in PATH.
inline constexpr const char* kWireguardGoProgram = "/usr/bin/wireguard-go";

class WireguardGo {
 public:
  // `exited` gets a text such as "exit status 1" or "killed by signal 9" when the child
  // ends by itself (not through stop()).
  WireguardGo(boost::asio::io_context& io, std::string interface,
              std::function<void(const std::string& how)> exited);
  ~WireguardGo();
  WireguardGo(const WireguardGo&) = delete;
  WireguardGo& operator=(const WireguardGo&) = delete;

  // Starts `wireguard-go -f INTERFACE` and waits (5 s at most) until its UAPI socket
  // answers. On failure the child is gone and `why` says what happened.
  std::error_code start(std::string& why);
  // SIGTERM, then SIGKILL after 3 s; wireguard-go removes its tun device as it exits.
  void stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  void watch();
  // Reaps the child if it has ended: its status as text, or empty while it runs.
  std::string reap(bool wait);

  boost::asio::io_context& io_;
  std::string interface_;
  std::function<void(const std::string&)> exited_;
  pid_t pid_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd_;
};

}  // namespace sekisho::vpn
