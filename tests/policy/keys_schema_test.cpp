// configs/policy.schema.json and the parser accept exactly the same keys.

#include <fstream>
#include <set>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "policy/keys.hpp"

using nlohmann::json;

namespace {

const json& resolve_ref(const json& root, const json& schema) {
  if (!schema.is_object() || !schema.contains("$ref")) {
    return schema;
  }
  std::string ref = schema["$ref"];
  REQUIRE(ref.rfind("#/$defs/", 0) == 0);
  return root["$defs"][ref.substr(8)];
}

// Collects the key paths of every object with fixed "properties": "zones.*.interfaces",
// "rules[].name"... in the notation of policy/keys.hpp.
void collect(const json& root, const json& node, const std::string& path,
             std::set<std::string>& out, int depth = 0) {
  REQUIRE(depth < 32);
  const json& schema = resolve_ref(root, node);
  if (!schema.is_object()) {
    return;
  }
  if (schema.contains("properties")) {
    for (const auto& [key, value] : schema["properties"].items()) {
      std::string child = path.empty() ? key : path + "." + key;
      out.insert(child);
      collect(root, value, child, out, depth + 1);
    }
  }
  if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
    collect(root, schema["additionalProperties"], path + ".*", out, depth + 1);
  }
  if (schema.contains("items")) {
    collect(root, schema["items"], path + "[]", out, depth + 1);
  }
  for (const char* combinator : {"oneOf", "anyOf", "allOf"}) {
    if (schema.contains(combinator)) {
      for (const json& branch : schema[combinator]) {
        collect(root, branch, path, out, depth + 1);
      }
    }
  }
}

}  // namespace

TEST_CASE("the JSON Schema's keys equal the parser's") {
  std::ifstream in(SEKISHO_SOURCE_DIR "/configs/policy.schema.json");
  REQUIRE(in);
  json schema = json::parse(in);
  std::set<std::string> schema_paths;
  collect(schema, schema, "", schema_paths);

  auto parser = sekisho::policy::known_key_paths();
  std::set<std::string> parser_paths(parser.begin(), parser.end());

  for (const std::string& path : schema_paths) {
    CHECK_MESSAGE(parser_paths.contains(path), "in the schema, not in the parser: " << path);
  }
  for (const std::string& path : parser_paths) {
    CHECK_MESSAGE(schema_paths.contains(path), "in the parser, not in the schema: " << path);
  }
  CHECK(parser_paths.size() > 50);
}
