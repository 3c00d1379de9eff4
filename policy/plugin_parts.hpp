#pragma once
// Where the policy library calls the registered plugins (plugins/plugin.hpp): their keys,
// their sections and rule clauses, their checks.

#include <string_view>

#include "plugins/plugin.hpp"

namespace sekisho::policy {

// The registered plugin part at `place` with key `key`, or nullptr.
const plugins::PolicyPart* plugin_part(plugins::PolicyPart::Place place, std::string_view key);

// Reads every plugin clause of one rule (`rule_node` is the rule's mapping).
void parse_rule_clauses(const YamlNode& rule_node, Reader& reader, Rule& rule);

// Runs every plugin's checks, in registry order.
void check_plugins(const Policy& policy, Diagnostics& diagnostics);

}  // namespace sekisho::policy
