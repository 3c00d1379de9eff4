#include "daemon/sekishoctl/args.hpp"

#include <cstdlib>

#include <doctest/doctest.h>

using namespace sekisho::ctl;

namespace {

const OptionSpec kExplain{{"from", "to", "proto", "port", "type", "at"}, {}};

}  // namespace

TEST_CASE("global options before or after the command") {
  std::string error;
  auto before = parse_args({"sekishoctl", "--json", "--control", "/tmp/c.sock", "check", "p.yaml"},
                           {}, error);
  REQUIRE(before);
  CHECK(before->command == "check");
  CHECK(before->json);
  CHECK(before->control == "/tmp/c.sock");
  CHECK(before->positional == std::vector<std::string>{"p.yaml"});
  auto after =
      parse_args({"sekishoctl", "check", "p.yaml", "--control=/tmp/d.sock", "--json"}, {}, error);
  REQUIRE(after);
  CHECK(after->control == "/tmp/d.sock");
  CHECK(after->json);
}

TEST_CASE("find_command skips global options and their values") {
  CHECK(find_command({"sekishoctl", "--control", "check", "explain"}) == "explain");
  CHECK(find_command({"sekishoctl", "--json", "check"}) == "check");
  CHECK_FALSE(find_command({"sekishoctl", "--json"}));
}

TEST_CASE("the control path: flag, then environment, then the default") {
  std::string error;
  ::unsetenv("SEKISHO_CONTROL");
  CHECK(parse_args({"sekishoctl", "status"}, {}, error)->control == "/run/sekisho/control.sock");
  ::setenv("SEKISHO_CONTROL", "/tmp/env.sock", 1);
  CHECK(parse_args({"sekishoctl", "status"}, {}, error)->control == "/tmp/env.sock");
  CHECK(parse_args({"sekishoctl", "status", "--control", "/x"}, {}, error)->control == "/x");
  ::unsetenv("SEKISHO_CONTROL");
}

TEST_CASE("command options") {
  std::string error;
  auto args = parse_args({"sekishoctl", "explain", "f.yaml", "--from", "a", "--to=b", "--proto",
                          "tcp", "--port", "502"},
                         kExplain, error);
  REQUIRE(args);
  CHECK(*args->value("from") == "a");
  CHECK(*args->value("to") == "b");
  CHECK(*args->value("port") == "502");
  CHECK(args->value("at") == nullptr);
}

TEST_CASE("usage errors") {
  std::string error;
  CHECK_FALSE(parse_args({"sekishoctl", "explain", "--from"}, kExplain, error));
  CHECK(error.find("needs a value") != std::string::npos);
  CHECK_FALSE(parse_args({"sekishoctl", "explain", "--frm", "a"}, kExplain, error));
  CHECK(error.find("--frm") != std::string::npos);
  CHECK_FALSE(parse_args({"sekishoctl", "explain", "--from", "a", "--from", "b"}, kExplain, error));
  CHECK_FALSE(parse_args({"sekishoctl", "check", "--json=yes"}, {}, error));
  CHECK_FALSE(parse_args({"sekishoctl", "check", "-x"}, {}, error));
  // After "--", dashes are arguments.
  auto args = parse_args({"sekishoctl", "check", "--", "-odd-name.yaml"}, {}, error);
  REQUIRE(args);
  CHECK(args->positional == std::vector<std::string>{"-odd-name.yaml"});
}
