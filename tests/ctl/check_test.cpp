#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "tests/ctl/run_command.hpp"

using namespace sekisho;
using namespace sekisho::ctl;

namespace {

using testing::Run;

Run check(std::vector<std::string> argv) {
  argv.insert(argv.begin(), "check");
  return testing::run_command(run_check, argv, {});
}

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/sekisho-check-XXXXXX";
  int fd = ::mkstemp(name);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(name) << text;
  return name;
}

}  // namespace

TEST_CASE("check: a valid policy") {
  Run run = check({SEKISHO_SOURCE_DIR "/configs/factory-line.yaml"});
  CHECK(run.code == kExitOk);
  CHECK(run.err.empty());
  CHECK(run.out.find("valid, 0 warning(s)") != std::string::npos);
}

TEST_CASE("check: diagnostics on stderr, exit 78") {
  std::string path =
      write_temp("version: 1\nhosts:\n  a: { address: 192.0.2.1 }\n  a: { address: 192.0.2.2 }\n");
  Run run = check({path});
  CHECK(run.code == kExitConfig);
  CHECK(run.out.empty());
  CHECK(run.err.find(path + ":4:3: error[dup-key]: duplicate key 'a'") != std::string::npos);
  CHECK(run.err.find("  hint: first defined at line 3") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("check --json: the same fields") {
  std::string path = write_temp("version: 1\nzones:\n  ot: { interfaces: [lan0], netwroks: [] }\n");
  Run run = check({path, "--json"});
  CHECK(run.code == kExitConfig);
  auto json = nlohmann::json::parse(run.out);
  CHECK(json["valid"] == false);
  REQUIRE(json["diagnostics"].size() == 1);
  auto d = json["diagnostics"][0];
  CHECK(d["file"] == path);
  CHECK(d["line"] == 3);
  CHECK(d["column"] == 29);
  CHECK(d["severity"] == "error");
  CHECK(d["code"] == "unknown-key");
  CHECK(d["hint"] == "did you mean 'networks'?");
  std::remove(path.c_str());
}

TEST_CASE("check: usage") {
  CHECK(check({}).code == kExitUsage);
  CHECK(check({"a.yaml", "b.yaml"}).code == kExitUsage);
}
