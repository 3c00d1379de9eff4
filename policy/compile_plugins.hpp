#pragma once
// The registered plugins' part of the compiled ruleset (plugins/plugin.hpp, Contribution):
// run by the compiler once the core's chains exist.

#include <cstddef>
#include <map>
#include <set>
#include <string>

#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::policy {

// NFLOG groups from here up are the plugins' (the core logs to 1 and 2).
inline constexpr std::uint16_t kFirstPluginLogGroup = 16;
// The packet-mark bits from here up are the plugins' (the core sets no packet mark).
inline constexpr unsigned kFirstPluginMarkBit = 16;

// `hook_at` says where in each core base chain (by hook: Input, Forward, Output) the jumps
// to the plugins' parts go: after loopback and the WAN gate, before everything else.
// `taken_names` holds every name of the ruleset; the plugins' names are added.
void compile_plugins(const Policy& policy, ir::Ruleset& ruleset,
                     const std::map<ir::Hook, std::size_t>& hook_at,
                     std::set<std::string>& taken_names);

}  // namespace sekisho::policy
