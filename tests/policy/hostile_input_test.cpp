// Hostile input: garbage, deep nesting, huge or odd files get diagnostics (78), never a
// crash, a hang or unbounded output.

#include <random>

#include <doctest/doctest.h>

#include "policy/yaml_tree.hpp"
#include "policy_fixture.hpp"

using namespace sekisho::policy;
using namespace sekisho::policy::testing;

TEST_CASE("random bytes") {
  std::mt19937 random(42);
  for (int round = 0; round < 200; ++round) {
    std::string text(static_cast<std::size_t>(random() % 2048), '\0');
    for (char& c : text) {
      c = static_cast<char>(random() % 256);
    }
    LoadResult result = load(text);
    CHECK_FALSE(result.policy);
    CHECK(result.diagnostics.has_errors());
  }
}

TEST_CASE("deep nesting in every YAML form") {
  for (std::string_view open : {"[", "{a: ", "- "}) {
    std::string text;
    for (int i = 0; i < 5000; ++i) {
      text += open;
      if (open == "- ") {
        text += "\n" + std::string(static_cast<std::size_t>(i + 1) * 2, ' ');
      }
    }
    LoadResult result = load(text);
    CHECK_FALSE(result.policy);
    CHECK(result.diagnostics.has_errors());
  }
}

TEST_CASE("a file over the size limit") {
  std::string text = "version: 1\n# " + std::string(kMaxPolicyBytes, 'x') + "\n";
  LoadResult result = load(text);
  CHECK_FALSE(result.policy);
  CHECK(result.diagnostics.has_code("too-large"));
}

TEST_CASE("many errors are reported boundedly") {
  std::string text = "version: 1\nhosts:\n";
  for (int i = 0; i < 5000; ++i) {
    text += "  h" + std::to_string(i) + ": { address: 999.0.0." + std::to_string(i % 250) + " }\n";
  }
  LoadResult result = load(text);
  CHECK(result.diagnostics.error_count() >= 5000);
  CHECK(result.diagnostics.items().size() == Diagnostics::kMaxReported);
  CHECK(result.diagnostics.dropped() > 0);
}

TEST_CASE("wrong shapes everywhere") {
  for (const char* text :
       {"[]", "42", "\"text\"", "version: 1\nzones: [ot]\n", "version: 1\nrules: {a: 1}\n",
        "version: 1\nhosts: {a: [1]}\n", "version: 1\ncloud: {mqtt: []}\n",
        "version: 1\nvpn: {x: {peers: [1]}}\n", "version: 1\nschedules: {s: {weekly: {a: 1}}}\n",
        "version: 1\nremote_maintenance: {targets: [1], peers: 2}\n",
        "version: 1\n? [a, b]\n: c\n"}) {
    LoadResult result = load(text);
    INFO(std::string(text));
    CHECK(result.diagnostics.items().size() > 0);
  }
}

TEST_CASE("a UTF-8 byte order mark is accepted") {
  LoadResult result = load("\xef\xbb\xbfversion: 1\nzones: ~\n");
  CHECK_MESSAGE(result.policy, dump(result.diagnostics));
}

TEST_CASE("a NUL byte") {
  LoadResult result = load(std::string("version: 1\n\0", 12));
  CHECK_FALSE(result.policy);
  CHECK(result.diagnostics.has_code("yaml"));
}

TEST_CASE("a chain of groups deeper than any call stack") {
  std::string text = "version: 1\ngroups:\n";
  const int depth = 40000;
  for (int i = 0; i < depth; ++i) {
    text += "  g" + std::to_string(i) + ": [g" + std::to_string(i + 1) + "]\n";
  }
  text += "  g" + std::to_string(depth) + ": [g0]\n";
  LoadResult result = load(text);
  CHECK(result.diagnostics.has_code("cycle"));
}
