// The daemon's method table: each method of methods() gets exactly one handler, bound by
// its MethodInfo; the server's dispatch and role check read what is bound.
#include "daemon/control/method_table.hpp"

#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

using namespace sekisho::control;

namespace {

std::optional<nlohmann::json> answer(const MethodTable::Call& call) {
  return nlohmann::json{{"method", call.request.method}};
}

}  // namespace

TEST_CASE("a method table with every method bound once has no problem") {
  MethodTable table;
  for (const MethodInfo& method : methods()) {
    table.bind(method, answer);
  }
  CHECK(table.check().empty());
  for (const MethodInfo& method : methods()) {
    const MethodTable::Entry* entry = table.find(method.name);
    REQUIRE(entry != nullptr);
    CHECK(entry->info == find_method(method.name));
    CHECK(entry->info->least_role == method.least_role);
  }
  CHECK(table.find("nope") == nullptr);
}

TEST_CASE("a method without its handler is named by check()") {
  MethodTable table;
  for (const MethodInfo& method : methods()) {
    if (method.name != kSessionOpen.name) {
      table.bind(method, answer);
    }
  }
  const std::vector<std::string> problems = table.check();
  REQUIRE(problems.size() == 1);
  CHECK(problems.front() == "control method 'session.open' has no handler");
  CHECK(table.find("session.open") == nullptr);
}

TEST_CASE("binding a method twice, one not in the list, or with another role is refused") {
  MethodTable table;
  table.bind(kStatus, answer);
  CHECK_THROWS_AS(table.bind(kStatus, answer), std::logic_error);
  CHECK_THROWS_AS(table.bind(MethodInfo{"status.more", Role::Viewer, "not a method"}, answer),
                  std::logic_error);
  // The role is the list's: a handler cannot lower it.
  CHECK_THROWS_AS(
      table.bind(MethodInfo{kPolicyApply.name, Role::Viewer, kPolicyApply.summary}, answer),
      std::logic_error);
  CHECK_THROWS_AS(table.bind(kVerify, MethodTable::Handler()), std::logic_error);
  CHECK(table.find("policy.apply") == nullptr);
}
