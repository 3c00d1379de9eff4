#pragma once
// The core's rules for the plugins' steering (ir::Steering): tproxy to each inspector's
// transparent listener, failing closed. Internal to the compiler (compile_plugins.cpp).

#include <cstddef>
#include <map>
#include <set>
#include <string>

#include "policy/ir.hpp"

namespace sekisho::policy {

// The base chain of the steering rules (prerouting, priority mangle).
inline constexpr std::string_view kSteeringChain = "steering";

// std::invalid_argument when `steering.key` is not a key of `set` a flow's packets from
// client to server can be matched with (the plugin is named by the caller).
void check_steering_key(const ir::Steering& steering, const ir::Set& set);

// Adds, for every steering of `ruleset.plugins`: the rules of chain `steering` (the
// inspectors' own connections, tproxy, then drop), an accept of the steering's packet
// mark in the input chain and of the inspector's transparent connections in the output
// chain, each at `hook_at` after the `inserted` jumps to the plugins' parts.
void add_steering(ir::Ruleset& ruleset, const std::map<ir::Hook, std::size_t>& hook_at,
                  const std::map<ir::Hook, std::size_t>& inserted,
                  std::set<std::string>& taken_names);

}  // namespace sekisho::policy
