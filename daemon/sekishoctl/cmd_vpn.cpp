// `sekishoctl vpn genkey --out FILE`: a WireGuard private key made here, on the box, into a
// new file of mode 0600 holding base64 and a newline exactly as `wg genkey` writes it; the
// public key (what the peers need) is printed. A key file is never overwritten: an
// existing FILE is refused (65), so a slip cannot replace the key every peer trusts.
//
// `sekishoctl vpn peer-config PEER --endpoint HOST:PORT [--policy FILE]`: the wg-quick file
// a vendor needs, from the policy and the gateway's key file. Its private key is a
// placeholder: the vendor's key is made on the vendor's machine and never passes here.
//
// Both work without the daemon.

#include <charconv>
#include <cstdint>
#include <iomanip>
#include <set>
#include <sstream>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/sekishoctl/diagnostics_output.hpp"
#include "daemon/vpn/key_file.hpp"
#include "daemon/vpn/keys.hpp"
#include "policy/load.hpp"

namespace sekisho::ctl {

namespace {

constexpr const char* kUsage =
    "usage: sekishoctl vpn genkey --out FILE [--json]\n"
    "       sekishoctl vpn peer-config PEER --endpoint HOST:PORT [--policy FILE]\n"
    "       sekishoctl vpn status [--json]\n";
constexpr const char* kDefaultPolicy = "/etc/sekisho/policy.yaml";

bool permission_error(const std::error_code& error) {
  return error == std::errc::permission_denied || error == std::errc::operation_not_permitted;
}

int genkey(const Args& args, Io& io) {
  const std::string* out = args.value("out");
  if (!out || out->empty()) {
    io.err << "sekishoctl vpn genkey: --out FILE is required (the key never goes to a "
              "terminal)\n"
           << kUsage;
    return kExitUsage;
  }
  const std::optional<vpn::Key> private_key = vpn::generate_private_key();
  const std::optional<vpn::Key> public_key =
      private_key ? vpn::public_key_of(*private_key) : std::nullopt;
  if (!public_key) {
    io.err << "sekishoctl vpn genkey: no key could be made (OpenSSL's random source or "
              "X25519 failed)\n";
    return kExitNegative;
  }
  if (std::error_code error = write_new_file(*out, vpn::key_to_base64(*private_key) + "\n", 0600)) {
    io.err << "sekishoctl vpn genkey: " << *out << ": " << error.message();
    if (error == std::errc::file_exists) {
      io.err << " (a key file is never overwritten; remove it first if it is really "
                "unused)\n";
      return kExitInvalid;
    }
    io.err << '\n';
    return permission_error(error) ? kExitForbidden : kExitNegative;
  }
  const std::string public_text = vpn::key_to_base64(*public_key);
  if (args.json) {
    io.out << nlohmann::json{{"file", *out}, {"public_key", public_text}}.dump() << '\n';
  } else {
    io.out << public_text << '\n';
  }
  return kExitOk;
}

// "HOST:PORT" or "[IPv6]:PORT", as wg-quick's Endpoint takes it.
bool valid_endpoint(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return false;
  }
  const std::string host = text.substr(0, colon);
  if (host.find(':') != std::string::npos &&
      (host.front() != '[' || host.back() != ']' || host.size() < 3)) {
    return false;
  }
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  const auto [end, error] = std::from_chars(first, last, port);
  return error == std::errc() && end == last && first != last && port >= 1 && port <= 65535;
}

std::string host_routes(const std::vector<policy::IpAddress>& addresses) {
  std::string text;
  for (const policy::IpAddress& address : addresses) {
    text += (text.empty() ? "" : ", ") + address.to_string() + "/" + std::to_string(address.bits());
  }
  return text;
}

int peer_config(const Args& args, Io& io) {
  const std::string* endpoint = args.value("endpoint");
  if (args.positional.size() != 2 || !endpoint) {
    io.err << "sekishoctl vpn peer-config: PEER and --endpoint HOST:PORT are required\n" << kUsage;
    return kExitUsage;
  }
  if (!valid_endpoint(*endpoint)) {
    io.err << "sekishoctl vpn peer-config: --endpoint '" << *endpoint
           << "' is not HOST:PORT (an IPv6 address in brackets: [2001:db8::1]:51820)\n";
    return kExitUsage;
  }
  const std::string peer_name = args.positional[1];
  const std::string policy_file = args.value("policy") ? *args.value("policy") : kDefaultPolicy;
  policy::LoadResult loaded = policy::load_policy_file(policy_file);
  if (!loaded.policy) {
    print_diagnostics(loaded.diagnostics, io.err);
    return kExitConfig;
  }
  const policy::Policy& policy = *loaded.policy;
  const policy::Vpn* vpn = nullptr;
  const policy::VpnPeer* peer = nullptr;
  for (const policy::Vpn& candidate : policy.vpns) {
    for (const policy::VpnPeer& candidate_peer : candidate.peers) {
      if (candidate_peer.name == peer_name) {
        vpn = &candidate;
        peer = &candidate_peer;
      }
    }
  }
  if (!peer) {
    io.err << "sekishoctl vpn peer-config: " << policy_file << " declares no VPN peer '"
           << peer_name << "'\n";
    return kExitInvalid;
  }

  // AllowedIPs: the addresses of every target the peer may be granted a session to; the
  // gateway lets nothing else through, so routing more into the tunnel would only hide
  // the vendor's own network.
  std::set<std::string> target_names;
  if (policy.remote_maintenance) {
    for (const policy::MaintenancePeer& pairing : policy.remote_maintenance->peers) {
      if (pairing.peer.name == peer_name) {
        for (const policy::NameRef& target : pairing.targets) {
          target_names.insert(target.name);
        }
      }
    }
  }
  std::vector<policy::IpAddress> target_addresses;
  for (const policy::MaintenanceTarget& target : policy.remote_maintenance
                                                     ? policy.remote_maintenance->targets
                                                     : std::vector<policy::MaintenanceTarget>{}) {
    if (!target_names.count(target.name)) {
      continue;
    }
    for (const policy::Host& host : policy.hosts) {
      if (host.name == target.host.name) {
        target_addresses.insert(target_addresses.end(), host.addresses.begin(),
                                host.addresses.end());
      }
    }
  }
  if (target_addresses.empty()) {
    io.err << "sekishoctl vpn peer-config: no target is paired with '" << peer_name
           << "' in remote_maintenance.peers, so the tunnel would carry nothing\n";
    return kExitInvalid;
  }

  std::string problem;
  std::error_code error;
  const std::optional<vpn::Key> gateway_key =
      vpn::read_private_key_file(vpn->private_key_file, problem, error);
  const std::optional<vpn::Key> gateway_public =
      gateway_key ? vpn::public_key_of(*gateway_key) : std::nullopt;
  if (!gateway_public) {
    io.err << "sekishoctl vpn peer-config: " << vpn->private_key_file << ": "
           << (problem.empty() ? "X25519 failed" : problem) << '\n';
    return permission_error(error) ? kExitForbidden : kExitConfig;
  }

  const std::string gateway = policy.gateway_name.empty() ? "" : " '" + policy.gateway_name + "'";
  io.out << "# WireGuard configuration for peer '" << peer_name << "' of the sekisho gateway"
         << gateway << " (vpn '" << vpn->name << "'), for wg-quick.\n"
         << "# Put the key you made on your own machine (wg genkey) in place of the\n"
         << "# placeholder; the gateway knows only its public key.\n"
         << "# The gateway lets you reach a target only while an operator has opened a\n"
         << "# session for you.\n"
         << "[Interface]\n"
         << "PrivateKey = <VENDOR PRIVATE KEY>\n"
         << "Address = " << host_routes(peer->addresses) << "\n\n"
         << "[Peer]\n"
         << "PublicKey = " << vpn::key_to_base64(*gateway_public) << "\n"
         << "Endpoint = " << *endpoint << "\n"
         << "AllowedIPs = " << host_routes(target_addresses) << "\n";
  if (peer->keepalive_seconds) {
    io.out << "PersistentKeepalive = " << *peer->keepalive_seconds << "\n";
  }
  return kExitOk;
}

int status(const Args& args, Io& io) {
  if (args.positional.size() != 1) {
    io.err << "sekishoctl vpn status: takes no arguments\n" << kUsage;
    return kExitUsage;
  }
  Reply reply = call(args.control, "vpn.status");
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "vpn status", reply);
    return reply.exit_code;
  }
  if (args.json) {
    io.out << reply.result.dump(2) << '\n';
    return kExitOk;
  }
  const nlohmann::json vpns = reply.result.value("vpns", nlohmann::json::array());
  if (vpns.empty()) {
    io.out << "no vpn in the policy in force\n";
  }
  for (const nlohmann::json& vpn : vpns) {
    io.out << "vpn " << vpn.value("vpn", "") << ": interface " << vpn.value("interface", "") << ", "
           << vpn.value("state", "");
    if (vpn.contains("problem")) {
      io.out << " (" << vpn.value("problem", "") << ")";
    }
    io.out << '\n';
    if (!vpn.value("backend", "").empty()) {
      io.out << "  backend:     " << vpn.value("backend", "") << '\n';
    }
    if (vpn.contains("public_key")) {
      io.out << "  public key:  " << vpn.value("public_key", "") << '\n';
    }
    io.out << "  listening:   udp/" << vpn.value("listen_port", 0) << '\n';
    for (const nlohmann::json& peer : vpn.value("peers", nlohmann::json::array())) {
      const std::string name = peer.value("peer", "");
      io.out << "  peer " << (name.empty() ? "(not in the policy)" : name) << ": "
             << peer.value("public_key", "") << '\n';
      std::string allowed;
      for (const nlohmann::json& cidr : peer.value("allowed_ips", nlohmann::json::array())) {
        allowed += (allowed.empty() ? "" : ", ") + cidr.get<std::string>();
      }
      const std::string endpoint = peer.value("endpoint", "");
      const nlohmann::json handshake = peer.value("latest_handshake", nlohmann::json());
      io.out << "    tunnel address:   " << allowed << '\n'
             << "    endpoint:         " << (endpoint.empty() ? "(none yet)" : endpoint) << '\n'
             << "    latest handshake: "
             << (handshake.is_string() ? handshake.get<std::string>() : std::string("never"))
             << '\n'
             << "    transfer:         " << human_bytes(peer.value("rx_bytes", std::uint64_t{0}))
             << " received, " << human_bytes(peer.value("tx_bytes", std::uint64_t{0})) << " sent\n";
      if (peer.value("keepalive_seconds", 0) > 0) {
        io.out << "    keepalive:        every " << peer.value("keepalive_seconds", 0) << " s\n";
      }
    }
  }
  return kExitOk;
}

}  // namespace

// Bytes as wg shows them: "1.50 MiB".
std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  std::ostringstream text;
  text << std::fixed << std::setprecision(unit == 0 ? 0 : 2) << value << ' ' << units[unit];
  return text.str();
}

int run_vpn(const Args& args, Io& io) {
  if (!args.positional.empty() && args.positional[0] == "status") {
    return status(args, io);
  }
  if (args.positional.size() == 1 && args.positional[0] == "genkey") {
    return genkey(args, io);
  }
  if (!args.positional.empty() && args.positional[0] == "peer-config") {
    return peer_config(args, io);
  }
  io.err << "sekishoctl vpn: "
         << (args.positional.empty() ? std::string("a subcommand is required")
                                     : "unknown subcommand '" + args.positional[0] + "'")
         << '\n'
         << kUsage;
  return kExitUsage;
}

}  // namespace sekisho::ctl
