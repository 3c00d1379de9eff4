#include "daemon/control/protocol.hpp"

#include <doctest/doctest.h>

#include "daemon/control/methods.hpp"
#include "daemon/control/roles.hpp"

using namespace sekisho::control;

namespace {

ErrorCode error_of(std::string_view line, nlohmann::json& id) {
  try {
    parse_request(line, id);
  } catch (const ControlError& error) {
    return error.code();
  }
  FAIL("the request was accepted: " << line);
  return ErrorCode::Invalid;
}

}  // namespace

TEST_CASE("a request is one object with an integer id, a method and optional params") {
  nlohmann::json id;
  Request request = parse_request(R"({"id":7,"method":"status","params":{"a":1}})", id);
  CHECK(id == 7);
  CHECK(request.method == "status");
  CHECK(request.params["a"] == 1);
  CHECK(parse_request(R"({"id":8,"method":"status"})", id).params.empty());
}

TEST_CASE("malformed requests are invalid, with the id when it could be read") {
  nlohmann::json id;
  CHECK(error_of("not json", id) == ErrorCode::Invalid);
  CHECK(id.is_null());
  CHECK(error_of("[1,2]", id) == ErrorCode::Invalid);
  CHECK(error_of(R"({"method":"status"})", id) == ErrorCode::Invalid);
  CHECK(error_of(R"({"id":"1","method":"status"})", id) == ErrorCode::Invalid);
  CHECK(error_of(R"({"id":3,"method":5})", id) == ErrorCode::Invalid);
  CHECK(id == 3);
  CHECK(error_of(R"({"id":4,"method":"status","params":[]})", id) == ErrorCode::Invalid);
  CHECK(error_of(R"({"id":5,"method":"status","extra":true})", id) == ErrorCode::Invalid);
  CHECK(error_of("{\"id\":6,\"method\":\"st\xff\"}", id) == ErrorCode::Invalid);
}

TEST_CASE("a request nested half a million levels deep is invalid, not a crash") {
  // Under the 1 MiB limit: params holds 500,000 nested arrays. Parsed without a bound and
  // then copied, it ran the daemon out of stack.
  const std::size_t depth = 500000;
  const std::string line = R"({"id":9,"method":"status","params":{"a":)" + std::string(depth, '[') +
                           std::string(depth, ']') + "}}";
  REQUIRE(line.size() < kMaxRequestBytes);
  nlohmann::json id;
  try {
    parse_request(line, id);
    FAIL("a request nested " << depth << " levels deep was accepted");
  } catch (const ControlError& error) {
    CHECK(error.code() == ErrorCode::Invalid);
    CHECK(std::string(error.what()).find("nests deeper than 64") != std::string::npos);
  }
  // The reply to it is one ordinary line.
  CHECK(nlohmann::json::parse(reply_error(id, ErrorCode::Invalid, "x"))["error"]["code"] ==
        "invalid");
}

TEST_CASE("requests nest up to 64 levels; brackets inside strings do not count") {
  auto nested = [](int levels) {
    // The request object and params are two levels; the rest are arrays.
    return R"({"id":1,"method":"status","params":{"a":)" + std::string(levels - 2, '[') +
           std::string(levels - 2, ']') + "}}";
  };
  nlohmann::json id;
  CHECK(parse_request(nested(kMaxRequestNesting), id).params.contains("a"));
  CHECK(error_of(nested(kMaxRequestNesting + 1), id) == ErrorCode::Invalid);
  const std::string brackets(100000, '[');
  Request request =
      parse_request(R"({"id":2,"method":"status","params":{"text":")" + brackets + R"("}})", id);
  CHECK(request.params["text"] == brackets);
}

TEST_CASE("replies are one line each") {
  const std::string ok = reply_ok(1, {{"x", 1}});
  CHECK(ok == "{\"id\":1,\"ok\":true,\"result\":{\"x\":1}}\n");
  const std::string error = reply_error(2, ErrorCode::Forbidden, "needs \xff admin");
  CHECK(error.find('\n') == error.size() - 1);
  CHECK(nlohmann::json::parse(error)["error"]["code"] == "forbidden");
  for (ErrorCode code : {ErrorCode::Forbidden, ErrorCode::Invalid, ErrorCode::NotFound,
                         ErrorCode::Conflict, ErrorCode::AuditUnavailable, ErrorCode::TooLarge}) {
    CHECK(error_code_from_name(error_code_name(code)) == code);
  }
}

TEST_CASE("roles: root is admin, groups decide the rest, the highest wins") {
  const RoleGroups groups{100, 200, 300};
  CHECK(role_of(0, {}, groups) == Role::Admin);
  CHECK(role_of(1000, {1000}, groups) == Role::None);
  CHECK(role_of(1000, {300}, groups) == Role::Viewer);        // primary group
  CHECK(role_of(1000, {1000, 300}, groups) == Role::Viewer);  // supplementary
  CHECK(role_of(1000, {1000, 300, 200}, groups) == Role::Operator);
  CHECK(role_of(1000, {100, 300}, groups) == Role::Admin);
  CHECK(role_of(1000, {100}, RoleGroups{}) == Role::None);  // groups that do not exist
  CHECK(Role::Admin > Role::Operator);
  CHECK(Role::Operator > Role::Viewer);
  CHECK(role_from_name("operator") == Role::Operator);
  CHECK_FALSE(role_from_name("root"));
}

TEST_CASE("every method has a name, a role that someone holds, and a summary") {
  CHECK_FALSE(methods().empty());
  for (const MethodInfo& method : methods()) {
    CHECK(find_method(method.name) == &method);
    CHECK(method.least_role != Role::None);
    CHECK_FALSE(method.summary.empty());
  }
  CHECK(find_method("nope") == nullptr);
}
