#include "daemon/vpn/tunnel.hpp"

#include <algorithm>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/net/rtnl.hpp"
#include "daemon/vpn/genl.hpp"
#include "daemon/vpn/key_file.hpp"
#include "daemon/vpn/plan.hpp"
#include "daemon/vpn/uapi.hpp"

namespace sekisho::vpn {
namespace {

constexpr std::chrono::seconds kMaxBackoff{60};
// A wireguard-go that ran this long before it ended starts again after the first backoff.
constexpr std::chrono::seconds kStableRun{60};

std::string address_text(const policy::InterfaceAddress& address) {
  return address.address.to_string() + '/' + std::to_string(address.prefix);
}

}  // namespace

Tunnel::Tunnel(boost::asio::io_context& io, Report report)
    : io_(io), report_(std::move(report)), restart_timer_(io) {}

Tunnel::~Tunnel() {
  // wireguard-go ends with us (its tun device with it); a kernel interface stays, still
  // granting nothing by itself, and is adopted by the next sekishod.
  restart_timer_.cancel();
}

nlohmann::json Tunnel::base_details() const {
  return {{"vpn", vpn_ ? vpn_->name : ""}, {"interface", vpn_ ? vpn_->interface.name : ""}};
}

void Tunnel::fail(const std::string& kind, const std::string& problem) {
  const bool new_problem = problem != problem_;
  problem_ = problem;
  if (new_problem) {
    log_error("vpn " + (vpn_ ? vpn_->name : std::string()) + ": " + problem);
    nlohmann::json details = base_details();
    details["problem"] = problem;
    report_(kind, details);
  }
}

bool Tunnel::enforce(const policy::Vpn& vpn) {
  if (vpn_ && vpn_->interface.name != vpn.interface.name) {
    take_down("the policy moved vpn " + vpn.name + " to interface " + vpn.interface.name);
  }
  vpn_ = vpn;
  std::string problem;
  std::error_code error;
  auto key = read_private_key_file(vpn.private_key_file, problem, error);
  if (!key) {
    // The key may be exposed or wrong: no tunnel with it.
    take_down("private key file refused");
    fail("vpn.key_refused", "private_key_file " + vpn.private_key_file + ": " + problem);
    private_key_.reset();
    return false;
  }
  private_key_ = key;
  if (!ensure_interface()) {
    return false;
  }
  return configure("policy");
}

bool Tunnel::ensure_interface() {
  if (control_) {
    return true;
  }
  const std::string& name = vpn_->interface.name;
  net::LinkInfo link;
  std::error_code error = net::get_link(name, link);
  if (!error && link.kind == "tun") {
    // Without control_ no wireguard-go of ours runs, so this is left over: from one that
    // outlived an earlier sekishod, or another program's. Deleting the device ends such a
    // wireguard-go, and ours replaces it.
    log_warning("vpn " + vpn_->name + ": removing the leftover tun device " + name);
    net::delete_link(name);
    error = std::make_error_code(std::errc::no_such_device);
  }
  if (!error && link.kind == "wireguard") {
    control_ = std::make_unique<GenlControl>(name);
    backend_ = "kernel";
    return true;
  }
  if (!error && link.kind != "tun") {
    fail("vpn.refused", "interface " + name + " exists and is a " +
                            (link.kind.empty() ? std::string("plain") : link.kind) +
                            " device, not WireGuard: rename it or change vpn." + vpn_->name +
                            ".interface");
    return false;
  }
  if (error && !net::create_link(name, "wireguard")) {
    control_ = std::make_unique<GenlControl>(name);
    backend_ = "kernel";
    log_notice("vpn " + vpn_->name + ": " + name + " runs on the kernel's WireGuard");
    return true;
  }
  // No kernel module: wireguard-go.
  if (!wireguard_go_) {
    wireguard_go_ = std::make_unique<WireguardGo>(
        io_, name, [this](const std::string& how) { restart_later(how); });
  }
  std::string why;
  if (wireguard_go_->start(why)) {
    fail("vpn.wireguard_go_failed", why);
    schedule_restart();
    return false;
  }
  started_at_ = std::chrono::steady_clock::now();
  control_ = std::make_unique<UapiControl>(uapi_socket_path(name));
  backend_ = "wireguard-go";
  return true;
}

void Tunnel::restart_later(const std::string& how) {
  control_.reset();
  backend_.clear();
  if (std::chrono::steady_clock::now() - started_at_ > kStableRun) {
    backoff_ = std::chrono::seconds(1);
  }
  nlohmann::json details = base_details();
  details["how"] = how;
  details["restart_in_seconds"] = backoff_.count();
  log_error("vpn " + vpn_->name + ": wireguard-go " + how + "; restarting in " +
            std::to_string(backoff_.count()) + " s");
  report_("vpn.wireguard_go_exited", details);
  schedule_restart();
}

void Tunnel::schedule_restart() {
  restart_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  restart_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || !vpn_ || !private_key_ || control_) {
      return;
    }
    if (ensure_interface() && configure("restart")) {
      ++restarts_;
      nlohmann::json restarted = base_details();
      restarted["restarts"] = restarts_;
      log_notice("vpn " + vpn_->name + ": wireguard-go restarted");
      report_("vpn.wireguard_go_restarted", restarted);
    }
  });
}

bool Tunnel::configure(const char* why) {
  const policy::Vpn& vpn = *vpn_;
  DesiredDevice desired = desired_device(vpn, *private_key_);
  WgDevice actual;
  std::error_code error = control_->get(actual);
  Plan plan;
  if (!error) {
    plan = plan_device(desired, actual);
    if (!plan.change.empty()) {
      error = control_->set(plan.change);
    }
  }
  if (error) {
    fail("vpn.failed",
         "configuring " + vpn.interface.name + " (" + backend_ + "): " + error.message());
    return false;
  }
  for (const PeerEvent& event : plan.events) {
    nlohmann::json details = base_details();
    std::string name = event.name;
    if (name.empty()) {
      auto known = peer_names_.find(event.public_key);
      name = known != peer_names_.end() ? known->second : "";
    }
    const std::string public_key = key_to_base64(event.public_key);
    details["peer"] = name;
    details["public_key"] = public_key;
    details["why"] = why;
    if (!event.what.empty()) {
      details["what"] = event.what;
    }
    log_notice("vpn " + vpn.name + ": peer " + (name.empty() ? public_key : name) + " " +
               to_string(event.kind) + " (" + why + ")");
    report_(std::string("vpn.peer_") + to_string(event.kind), details);
  }
  if ((plan.key_changed || plan.port_changed) && std::string(why) == "drift") {
    nlohmann::json details = base_details();
    details["key_restored"] = plan.key_changed;
    details["listen_port_restored"] = plan.port_changed;
    report_("vpn.drift", details);
  }
  peer_names_.clear();
  for (const DesiredPeer& peer : desired.peers) {
    peer_names_[peer.public_key] = peer.name;
  }
  if (!configure_addresses()) {
    return false;
  }
  problem_.clear();
  return true;
}

bool Tunnel::configure_addresses() {
  const std::string& name = vpn_->interface.name;
  net::LinkInfo link;
  std::error_code error = net::get_link(name, link);
  std::vector<policy::InterfaceAddress> present;
  if (!error) {
    error = net::list_addresses(link.index, present);
  }
  auto same = [](const policy::InterfaceAddress& a, const policy::InterfaceAddress& b) {
    return a.address == b.address && a.prefix == b.prefix;
  };
  for (const policy::InterfaceAddress& address : present) {
    if (error) {
      break;
    }
    if (std::none_of(vpn_->addresses.begin(), vpn_->addresses.end(),
                     [&](const auto& want) { return same(want, address); })) {
      error = net::delete_address(link.index, address);
      log_warning("vpn " + vpn_->name + ": removed " + address_text(address) + " from " + name +
                  " (not in the policy)");
    }
  }
  for (const policy::InterfaceAddress& address : vpn_->addresses) {
    if (error) {
      break;
    }
    if (std::none_of(present.begin(), present.end(),
                     [&](const auto& have) { return same(have, address); })) {
      error = net::add_address(link.index, address);
    }
  }
  if (!error && !link.up()) {
    error = net::set_link_up(name, true);
  }
  if (error) {
    fail("vpn.failed", "addresses or link state of " + name + ": " + error.message());
    return false;
  }
  return true;
}

void Tunnel::check() {
  if (!vpn_ || !private_key_ || !control_) {
    return;
  }
  configure("drift");
}

void Tunnel::take_down(const std::string& why) {
  restart_timer_.cancel();
  const bool was_up = control_ != nullptr || (wireguard_go_ && wireguard_go_->running());
  control_.reset();
  if (wireguard_go_) {
    wireguard_go_->stop();  // its tun device goes with it
    wireguard_go_.reset();
  } else if (vpn_ && backend_ == "kernel") {
    net::delete_link(vpn_->interface.name);
  }
  backend_.clear();
  if (was_up && vpn_) {
    nlohmann::json details = base_details();
    details["why"] = why;
    log_notice("vpn " + vpn_->name + ": " + vpn_->interface.name + " taken down: " + why);
    report_("vpn.down", details);
  }
}

nlohmann::json Tunnel::status() {
  nlohmann::json out = base_details();
  out["backend"] = backend_;
  out["state"] = control_ ? "up" : (problem_.empty() ? "down" : "refused");
  if (!problem_.empty()) {
    out["problem"] = problem_;
  }
  if (!vpn_) {
    return out;
  }
  out["listen_port"] = vpn_->listen_port;
  nlohmann::json addresses = nlohmann::json::array();
  for (const auto& address : vpn_->addresses) {
    addresses.push_back(address_text(address));
  }
  out["addresses"] = addresses;
  if (private_key_) {
    if (auto public_key = public_key_of(*private_key_)) {
      out["public_key"] = key_to_base64(*public_key);
    }
  }
  WgDevice device;
  nlohmann::json peers = nlohmann::json::array();
  if (control_ && !control_->get(device)) {
    for (const WgPeer& peer : device.peers) {
      auto name = peer_names_.find(peer.public_key);
      nlohmann::json allowed = nlohmann::json::array();
      for (const auto& cidr : peer.allowed_ips) {
        allowed.push_back(cidr.to_string());
      }
      peers.push_back({
          {"peer", name != peer_names_.end() ? name->second : ""},
          {"public_key", key_to_base64(peer.public_key)},
          {"endpoint", peer.endpoint ? peer.endpoint->to_string() : ""},
          {"latest_handshake", peer.last_handshake_seconds == 0
                                   ? nlohmann::json()
                                   : nlohmann::json(utc_text(std::chrono::system_clock::time_point(
                                         std::chrono::seconds(peer.last_handshake_seconds))))},
          {"rx_bytes", peer.rx_bytes},
          {"tx_bytes", peer.tx_bytes},
          {"allowed_ips", allowed},
          {"keepalive_seconds", peer.keepalive_seconds},
      });
    }
  }
  out["peers"] = peers;
  return out;
}

}  // namespace sekisho::vpn
