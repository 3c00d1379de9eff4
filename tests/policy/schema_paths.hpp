#pragma once
// The key paths a policy JSON Schema names ("zones.*.interfaces", "rules[].name"...), in
// the notation of policy/keys.hpp: what the keys tests compare with the parser's.

#include <set>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

namespace sekisho::testing {

inline const nlohmann::json& resolve_ref(const nlohmann::json& root, const nlohmann::json& schema) {
  if (!schema.is_object() || !schema.contains("$ref")) {
    return schema;
  }
  std::string ref = schema["$ref"];
  REQUIRE(ref.rfind("#/$defs/", 0) == 0);
  return root["$defs"][ref.substr(8)];
}

// Collects the key paths of every object with fixed "properties": "zones.*.interfaces",
// "rules[].name"... in the notation of policy/keys.hpp.
inline void collect_schema_paths(const nlohmann::json& root, const nlohmann::json& node,
                                 const std::string& path, std::set<std::string>& out,
                                 int depth = 0) {
  REQUIRE(depth < 32);
  const nlohmann::json& schema = resolve_ref(root, node);
  if (!schema.is_object()) {
    return;
  }
  if (schema.contains("properties")) {
    for (const auto& [key, value] : schema["properties"].items()) {
      std::string child = path.empty() ? key : path + "." + key;
      out.insert(child);
      collect_schema_paths(root, value, child, out, depth + 1);
    }
  }
  if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
    collect_schema_paths(root, schema["additionalProperties"], path + ".*", out, depth + 1);
  }
  if (schema.contains("items")) {
    collect_schema_paths(root, schema["items"], path + "[]", out, depth + 1);
  }
  for (const char* combinator : {"oneOf", "anyOf", "allOf"}) {
    if (schema.contains(combinator)) {
      for (const nlohmann::json& branch : schema[combinator]) {
        collect_schema_paths(root, branch, path, out, depth + 1);
      }
    }
  }
}

}  // namespace sekisho::testing
