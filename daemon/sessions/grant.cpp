#include "daemon/sessions/grant.hpp"

#include <algorithm>

#include "policy/resolve.hpp"

namespace sekisho::sessions {

namespace {

ir::Value address_value(const policy::IpAddress& address) {
  return ir::value_of_bytes(address.bytes.data(), address.family == policy::Family::V4 ? 4 : 16);
}

std::uint64_t protocol_number(policy::Proto proto) {
  return proto == policy::Proto::Tcp ? 6 : 17;
}

bool same_packet(const policy::ServiceItem& a, const policy::ServiceItem& b) {
  return a.proto == b.proto && a.port_lo <= b.port_hi && b.port_lo <= a.port_hi;
}

}  // namespace

std::optional<Grant> grant_for(const policy::Policy& policy, const std::string& peer,
                               const std::string& target, std::string& error) {
  if (!policy.remote_maintenance) {
    error = "the policy has no remote_maintenance section";
    return std::nullopt;
  }
  const policy::RemoteMaintenance& maintenance = *policy.remote_maintenance;
  const policy::VpnPeer* vpn_peer = policy.find_peer(peer);
  if (!vpn_peer) {
    error = "no VPN peer '" + peer + "' in the policy";
    return std::nullopt;
  }
  const policy::MaintenanceTarget* found = nullptr;
  for (const policy::MaintenanceTarget& candidate : maintenance.targets) {
    if (candidate.name == target) {
      found = &candidate;
    }
  }
  if (!found) {
    error = "no maintenance target '" + target + "' in remote_maintenance.targets";
    return std::nullopt;
  }
  bool paired = false;
  for (const policy::MaintenancePeer& pairing : maintenance.peers) {
    if (pairing.peer.name != peer) {
      continue;
    }
    for (const policy::NameRef& name : pairing.targets) {
      paired = paired || name.name == target;
    }
  }
  if (!paired) {
    error = "remote_maintenance.peers does not pair '" + peer + "' with '" + target + "'";
    return std::nullopt;
  }
  const policy::Host* host = policy.find_host(found->host.name);
  if (!host) {
    error = "target '" + target + "' names no host";
    return std::nullopt;
  }
  Grant grant;
  grant.peer = peer;
  grant.peer_public_key = vpn_peer->public_key;
  grant.peer_addresses = vpn_peer->addresses;
  grant.target = target;
  grant.host = host->name;
  grant.target_addresses = host->addresses;
  for (policy::ServiceItem item : policy::Resolver(policy).items_of(found->services)) {
    if (item.proto == policy::Proto::Any) {
      // "any" (warned about by `check`): every TCP and UDP port, never other protocols.
      // Port 0 is no port a connection can use (and no service item can name it).
      grant.services.push_back({policy::Proto::Tcp, 1, 65535, -1});
      grant.services.push_back({policy::Proto::Udp, 1, 65535, -1});
    } else if (item.proto == policy::Proto::Tcp || item.proto == policy::Proto::Udp) {
      grant.services.push_back(item);
    }
  }
  std::sort(grant.services.begin(), grant.services.end());
  grant.services.erase(std::unique(grant.services.begin(), grant.services.end()),
                       grant.services.end());
  if (grant.services.empty()) {
    error = "target '" + target + "' has no TCP or UDP service: a session cannot carry it";
    return std::nullopt;
  }
  return grant;
}

std::vector<ir::Element> grant_elements(const Grant& grant, policy::Family family,
                                        std::uint32_t mark, std::uint64_t timeout_ms) {
  std::vector<ir::Element> out;
  for (const policy::IpAddress& peer : grant.peer_addresses) {
    for (const policy::IpAddress& target : grant.target_addresses) {
      if (peer.family != family || target.family != family) {
        continue;
      }
      for (const policy::ServiceItem& service : grant.services) {
        ir::Element element;
        element.key = {ir::single(address_value(peer)), ir::single(address_value(target)),
                       ir::single(ir::value_of_number(protocol_number(service.proto), 1)),
                       ir::Range{ir::value_of_number(service.port_lo, 2),
                                 ir::value_of_number(service.port_hi, 2)}};
        element.origin = {{}, "session to " + grant.target};
        element.data = ir::value_of_number(mark, 4);
        element.timeout_ms = timeout_ms;
        out.push_back(std::move(element));
      }
    }
  }
  return out;
}

bool overlaps(const Grant& a, const Grant& b) {
  auto shared = [](const std::vector<policy::IpAddress>& x,
                   const std::vector<policy::IpAddress>& y) {
    return std::any_of(x.begin(), x.end(), [&](const policy::IpAddress& address) {
      return std::find(y.begin(), y.end(), address) != y.end();
    });
  };
  if (!shared(a.peer_addresses, b.peer_addresses) ||
      !shared(a.target_addresses, b.target_addresses)) {
    return false;
  }
  for (const policy::ServiceItem& x : a.services) {
    for (const policy::ServiceItem& y : b.services) {
      if (same_packet(x, y)) {
        return true;
      }
    }
  }
  return false;
}

std::vector<std::string> service_texts(const Grant& grant) {
  std::vector<std::string> out;
  for (const policy::ServiceItem& service : grant.services) {
    out.push_back(service.to_string());
  }
  return out;
}

}  // namespace sekisho::sessions
