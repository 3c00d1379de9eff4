// The policy's JSON Schema (configs/policy.schema.json with the registered plugins'
// fragments, as the build writes it) and the parser accept exactly the same keys.

#include <fstream>
#include <set>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "policy/keys.hpp"
#include "schema_paths.hpp"

using nlohmann::json;

TEST_CASE("the JSON Schema's keys equal the parser's") {
  // The schema the build wrote: configs/policy.schema.json with the plugins' fragments.
  std::ifstream in(SEKISHO_POLICY_SCHEMA);
  REQUIRE(in);
  json schema = json::parse(in);
  std::set<std::string> schema_paths;
  sekisho::testing::collect_schema_paths(schema, schema, "", schema_paths);

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
