#pragma once
// What the registered plugins add to the policy's documents, derived from their
// registration (plugin.hpp, PolicyPart): the JSON Schema and sekisho-policy(5). The build
// writes both (docs_tool.cpp); the tests read what it wrote.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugins/plugin.hpp"

namespace sekisho::plugins {

// `core` (configs/policy.schema.json) with each plugin's schema fragment: a section under
// "properties", a rule clause under the rule's "properties". Throws nlohmann::json's
// exceptions on a fragment that does not parse.
nlohmann::ordered_json merged_schema(const nlohmann::ordered_json& core,
                                     std::span<const Plugin* const> plugins);

// `page` (docs/man/sekisho-policy.5) with each plugin's manual fragment at the end of its
// KEYS section, in registry order. Without plugins: `page` as it is.
std::string merged_manual(std::string_view page, std::span<const Plugin* const> plugins);

// What is wrong with a list of plugins, one line each: names, keys that meet a core
// key or another plugin's, mappings outside the plugin's key, fragments missing.
std::vector<std::string> registry_problems(std::span<const Plugin* const> plugins);

}  // namespace sekisho::plugins
