#pragma once
// YAML tree -> Policy. Reports syntax and type problems of each section (every one of
// them, not just the first); cross-references and the guide's rules are checked after, in
// checks.hpp.

#include "policy/model.hpp"
#include "policy/reader.hpp"
#include "policy/yaml_tree.hpp"

namespace sekisho::policy {

Policy parse_policy(const YamlNode& root, Reader& reader);

// Sections, one file each group; parse_policy calls them in file order of the keys.
void parse_zones(const YamlNode& node, Reader& reader, Policy& policy);
void parse_hosts(const YamlNode& node, Reader& reader, Policy& policy);
void parse_groups(const YamlNode& node, Reader& reader, Policy& policy);
void parse_services(const YamlNode& node, Reader& reader, Policy& policy);
void parse_rules(const YamlNode& node, Reader& reader, Policy& policy);
void parse_schedules(const YamlNode& node, Reader& reader, Policy& policy);
void parse_wan(const YamlNode& node, Reader& reader, Policy& policy);
void parse_vpns(const YamlNode& node, Reader& reader, Policy& policy);
void parse_cloud(const YamlNode& node, Reader& reader, Policy& policy);
void parse_remote_maintenance(const YamlNode& node, Reader& reader, Policy& policy);
void parse_audit(const YamlNode& node, Reader& reader, Policy& policy);

}  // namespace sekisho::policy
