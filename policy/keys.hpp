#pragma once
// The keys each mapping of a policy file may hold: the one list the parser checks against
// (unknown-key, did-you-mean) and the test compares with the policy's JSON Schema. The
// core's keys, and those of the registered plugins (plugins/plugin.hpp).

#include <string>
#include <string_view>
#include <vector>

namespace sekisho::policy {

// A mapping with fixed keys. `path` names it: "" for the top level, "zones.*" for each
// zone (a "*" level is a map of user-chosen names), "rules[]" for each rule.
struct MappingKeys {
  std::string_view path;
  std::vector<std::string_view> keys;
};

// The core's keys and the plugins': each plugin's section key is a key of "", each rule
// clause key one of "rules[]", and their mappings follow the core's.
const std::vector<MappingKeys>& policy_mapping_keys();
// The core's alone.
const std::vector<MappingKeys>& core_mapping_keys();

// The keys allowed at `path`; empty when the path has no fixed keys.
const std::vector<std::string_view>& keys_at(std::string_view path);

// Every key path the parser accepts, e.g. "zones.*.interfaces", "rules[].from", sorted.
std::vector<std::string> known_key_paths();

// The candidate closest to `word` by edit distance, if it is close enough to be a likely
// typo ("intefaces" -> "interfaces"); empty otherwise.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace sekisho::policy
