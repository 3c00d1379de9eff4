#include "policy/yaml_tree.hpp"

#include <doctest/doctest.h>

using namespace sekisho::policy;

TEST_CASE("positions are 1-based line and column") {
  Diagnostics d("t.yaml");
  auto root = parse_yaml("a: 1\nb:\n  c: [x, \"y\"]\n", d);
  REQUIRE(root);
  CHECK(d.items().empty());
  const YamlNode* b = root->find("b");
  REQUIRE(b);
  const YamlNode* c = b->find("c");
  REQUIRE(c);
  CHECK(c->pos.line == 3);
  CHECK(c->pos.column == 6);
  REQUIRE(c->items.size() == 2);
  CHECK(c->items[1].pos.column == 10);
  CHECK_FALSE(c->items[0].quoted);
  CHECK(c->items[1].quoted);
}

TEST_CASE("a duplicate key is an error, not silently merged") {
  Diagnostics d("t.yaml");
  auto root = parse_yaml("hosts:\n  plc: 1\n  hmi: 2\n  plc: 3\n", d);
  REQUIRE(root);
  REQUIRE(d.items().size() == 1);
  CHECK(d.items()[0].code == "dup-key");
  CHECK(d.items()[0].pos.line == 4);
  CHECK(d.items()[0].pos.column == 3);
  CHECK(d.items()[0].hint.find("line 2") != std::string::npos);
  // The first definition stays; the second is dropped.
  CHECK(root->find("hosts")->find("plc")->value == "1");
}

TEST_CASE("aliases, tags and several documents are refused") {
  Diagnostics aliases("t.yaml");
  parse_yaml("a: &x [1, 2]\nb: *x\n", aliases);
  CHECK(aliases.has_code("yaml-alias"));

  Diagnostics tags("t.yaml");
  parse_yaml("a: !!binary aGVsbG8=\n", tags);
  CHECK(tags.has_code("yaml-tag"));

  Diagnostics docs("t.yaml");
  parse_yaml("a: 1\n---\nb: 2\n", docs);
  CHECK(docs.has_code("yaml"));
}

TEST_CASE("syntax errors carry a position") {
  Diagnostics d("t.yaml");
  auto root = parse_yaml("a: [1, 2\nb: 3\n", d);
  CHECK_FALSE(root);
  REQUIRE(d.items().size() == 1);
  CHECK(d.items()[0].code == "yaml");
  CHECK(d.items()[0].pos.line > 0);
}

TEST_CASE("a quoted string that is never closed") {
  for (const char* text : {"a: \"open\n", "a: 'open\n", "a: \"x\\\"\n", "a: 'it''s\n"}) {
    Diagnostics d("t.yaml");
    parse_yaml(text, d);
    CHECK_MESSAGE(d.has_code("yaml"), text);
  }
  for (const char* text : {"a: \"closed\"\n", "a: 'it''s'\n", "a: \"x\\\"y\"\n"}) {
    Diagnostics d("t.yaml");
    parse_yaml(text, d);
    CHECK_MESSAGE(d.items().empty(), text);
  }
}

TEST_CASE("nesting is bounded") {
  Diagnostics d("t.yaml");
  std::string deep(10000, '[');
  auto root = parse_yaml(deep, d);
  CHECK_FALSE(root);
  CHECK(d.has_code("yaml"));
}
