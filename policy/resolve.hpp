#pragma once
// Name and address resolution over a checked policy: what a name in a rule stands for,
// which zone an address belongs to, which addresses are the gateway's own. explain, the
// guide checks and (later) the compiler share this one definition, so they agree.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/model.hpp"

namespace sekisho::policy {

enum class NameKind { None, Host, Group, Zone, Peer, Gateway };

inline constexpr std::string_view kGatewayName = "gateway";

// One end of a packet: the gateway itself, or an address.
struct Endpoint {
  bool gateway = false;
  IpAddress address;
};

// A piece of a rule's address side, for coverage questions (shadowed rules):
// the gateway, a prefix, or "every address of a zone without networks".
struct AddressAtom {
  enum class Kind { Gateway, Network, ZoneRest };
  Kind kind = Kind::Network;
  Cidr network;
  const Zone* zone = nullptr;
};

class Resolver {
 public:
  // `policy` must outlive the resolver and must have been linked (checks.hpp).
  explicit Resolver(const Policy& policy);

  const Policy& policy() const { return policy_; }
  NameKind kind_of(std::string_view name) const;

  // The hosts a host or group name stands for: groups flattened, each host once, cycles
  // cut (they are reported by the checks).
  const std::vector<const Host*>& hosts_of(std::string_view name) const;

  // The zone holding `address`: the zone whose networks contain it, else the zone holding
  // the rest of its family (no networks, or a /0 network), else nullptr.
  const Zone* zone_of(const IpAddress& address) const;
  // True when `address` lies in a zone's own networks, not in "the rest".
  bool in_declared_network(const IpAddress& address) const;
  // The zone holding wan.interface, or nullptr without a `wan` section.
  const Zone* wan_zone() const { return wan_zone_; }
  const Zone* zone_of_vpn(std::string_view vpn) const;

  // The gateway's own addresses that the policy names (tunnel addresses, local broker).
  bool is_gateway_address(const IpAddress& address) const;
  Endpoint endpoint_for(const IpAddress& address) const;
  // The gateway's own address in the zone (and family) of `peer`, if the policy names one.
  std::optional<IpAddress> gateway_address_facing(const IpAddress& peer) const;

  // Whether a rule side naming `name` includes `endpoint`.
  bool matches(std::string_view name, const Endpoint& endpoint) const;
  // The zones the addresses behind `name` fall in (a zone name: that zone).
  std::vector<const Zone*> zones_of(std::string_view name) const;
  std::vector<AddressAtom> atoms_of(const std::vector<NameRef>& names) const;
  // True when every address `atom` stands for is in `atoms`.
  bool covered(const AddressAtom& atom, const std::vector<AddressAtom>& atoms) const;

  // The service items a rule's service uses stand for.
  std::vector<ServiceItem> items_of(const std::vector<ServiceUse>& uses) const;

 private:
  // The zone whose own networks (not a /0) contain `address`, or nullptr.
  const Zone* declared_zone_of(const IpAddress& address) const;

  const Policy& policy_;
  std::map<std::string, NameKind, std::less<>> kinds_;
  mutable std::map<std::string, std::vector<const Host*>, std::less<>> host_cache_;
  const Zone* wan_zone_ = nullptr;
  // Per family (V4, V6): the zone holding every address no other zone's networks hold:
  // the zone without networks, or the zone declaring 0.0.0.0/0 or ::/0.
  const Zone* rest_zone_[2] = {nullptr, nullptr};
  std::vector<IpAddress> gateway_addresses_;
};

}  // namespace sekisho::policy
