#pragma once
// One WireGuard interface of the policy's `vpn` section, kept in the declared state:
// private key, listen port, addresses, link up, and exactly the declared peers (allowed
// IPs = the peer's tunnel addresses). Backend: the kernel module through generic netlink
// when a link of kind "wireguard" can be created, else wireguard-go as a supervised child
// (restarted with backoff) driven through its UAPI socket.
//
// Fails closed: a private key file that is not a root-owned 0600/0400 regular file, or an
// interface name taken by another kind of device, is refused and the tunnel is taken
// down. Every change to peers, every refusal and every wireguard-go exit or restart is
// reported (to the audit log); handshakes and byte counts are status only.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "daemon/vpn/keys.hpp"
#include "daemon/vpn/wg_device.hpp"
#include "daemon/vpn/wireguard_go.hpp"
#include "policy/model.hpp"

namespace sekisho::vpn {

class Tunnel {
 public:
  // Audit events: kind ("vpn.peer_added", ...) and details.
  using Report = std::function<void(const std::string& kind, const nlohmann::json& details)>;

  Tunnel(boost::asio::io_context& io, Report report);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // Brings the interface to what `vpn` declares (at start and after every policy apply).
  // False when it is refused or cannot be brought up (then it is down); problem() says why.
  bool enforce(const policy::Vpn& vpn);
  // Puts back what someone else changed (peers, key, port, addresses, link state).
  void check();
  // Removes the interface (the policy no longer declares it, or it was refused).
  void take_down(const std::string& why);

  const std::string& problem() const { return problem_; }
  nlohmann::json status();

 private:
  bool ensure_interface();
  bool configure(const char* why);
  bool configure_addresses();
  // wireguard-go ended by itself: reported, and started again after the backoff.
  void restart_later(const std::string& how);
  void schedule_restart();
  void fail(const std::string& kind, const std::string& problem);
  nlohmann::json base_details() const;

  boost::asio::io_context& io_;
  Report report_;
  std::optional<policy::Vpn> vpn_;
  std::optional<Key> private_key_;
  std::string backend_;  // "kernel" or "wireguard-go"; empty while down
  std::unique_ptr<WgControl> control_;
  std::unique_ptr<WireguardGo> wireguard_go_;
  std::map<Key, std::string> peer_names_;  // of the last policy, to name removed peers
  std::string problem_;
  boost::asio::steady_timer restart_timer_;
  std::chrono::seconds backoff_{1};
  std::chrono::steady_clock::time_point started_at_;
  int restarts_ = 0;
};

}  // namespace sekisho::vpn
