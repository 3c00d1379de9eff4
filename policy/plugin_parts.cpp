#include "policy/plugin_parts.hpp"

namespace sekisho::policy {

const plugins::PolicyPart* plugin_part(plugins::PolicyPart::Place place, std::string_view key) {
  for (const plugins::Plugin* plugin : plugins::registered()) {
    for (const plugins::PolicyPart& part : plugin->policy) {
      if (part.place == place && part.key == key) {
        return &part;
      }
    }
  }
  return nullptr;
}

void parse_rule_clauses(const YamlNode& rule_node, Reader& reader, Rule& rule) {
  for (const plugins::Plugin* plugin : plugins::registered()) {
    for (const plugins::PolicyPart& part : plugin->policy) {
      if (part.place != plugins::PolicyPart::Place::RuleClause || !part.parse) {
        continue;
      }
      if (const YamlNode* value = rule_node.find(part.key)) {
        rule.extensions.set(part.key, part.parse(*value, reader));
      }
    }
  }
}

void check_plugins(const Policy& policy, Diagnostics& diagnostics) {
  for (const plugins::Plugin* plugin : plugins::registered()) {
    for (const plugins::PolicyPart& part : plugin->policy) {
      if (part.check) {
        part.check(policy, diagnostics);
      }
    }
  }
}

}  // namespace sekisho::policy
