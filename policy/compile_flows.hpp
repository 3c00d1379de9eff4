#pragma once
// Internal to the compiler: rules (and the gateway's implicit services) expanded into
// flows, each a box of (source prefix, destination prefix, service) between two zones.

#include <optional>
#include <string>
#include <vector>

#include "policy/ir.hpp"
#include "policy/model.hpp"
#include "policy/resolve.hpp"

namespace sekisho::policy {

struct Flow {
  const Zone* from = nullptr;  // nullptr: the gateway itself
  const Zone* to = nullptr;    // nullptr: the gateway itself
  Cidr source;
  Cidr destination;
  ServiceItem service;
  std::string schedule;  // empty: always
  bool log = false;
  ir::Origin origin;
};

// Every flow the policy allows, in policy order: rules first, then implicit services.
std::vector<Flow> expand_flows(const Resolver& resolver);

// The chain a pair of zones dispatches to: "ot_to_it", "ot_to_gateway", "gateway_to_wan".
std::string pair_chain_name(const Zone* from, const Zone* to);

}  // namespace sekisho::policy
