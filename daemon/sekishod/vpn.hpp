#pragma once
// WireGuard (the policy's vpn section): each `vpn` of the policy in force is brought up
// after the ruleset that governs it, and kept as declared (checked every few seconds).

#include <map>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/subsystem.hpp"
#include "daemon/vpn/tunnel.hpp"

namespace sekisho::daemon {

class Vpn final : public Subsystem {
 public:
  explicit Vpn(Host& host);

  std::string_view name() const override { return "vpn"; }
  void after_policy(const policy::Policy& policy, bool ok) override;
  void start() override;
  void bind_methods(control::MethodTable& table) override;

  nlohmann::json status_json();  // vpn.status

 private:
  void check();

  Host& host_;
  boost::asio::steady_timer timer_;
  std::map<std::string, std::unique_ptr<vpn::Tunnel>> tunnels_;
};

}  // namespace sekisho::daemon
