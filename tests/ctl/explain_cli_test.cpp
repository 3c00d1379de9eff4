#include <sstream>

#include <date/date.h>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "tests/ctl/run_command.hpp"

using namespace sekisho;
using namespace sekisho::ctl;
using namespace std::chrono;

namespace {

using testing::Run;

Run explain(std::vector<std::string> argv, sys_seconds now) {
  argv.insert(argv.begin(), {"explain", SEKISHO_SOURCE_DIR "/configs/factory-line.yaml"});
  return testing::run_command(run_explain, argv, testing::options_of("explain"), now);
}

// Wednesday 2026-11-25 in Tokyo (UTC+9).
const sys_seconds kWednesdayMorning = date::sys_days{date::year{2026} / 11 / 25} + hours{1};
const sys_seconds kWednesdayNight = date::sys_days{date::year{2026} / 11 / 25} + hours{13};

}  // namespace

TEST_CASE("explain without --at judges at 'now'") {
  std::vector<std::string> mes = {"--from", "mes",    "--to", "hmi-1", "--proto",
                                  "tcp",    "--port", "4840", "--json"};
  auto morning = nlohmann::json::parse(explain(mes, kWednesdayMorning).out);
  CHECK(morning["verdict"] == "accept");
  CHECK(morning["at"] == "2026-11-25T10:00:00+09:00");
  auto night = nlohmann::json::parse(explain(mes, kWednesdayNight).out);
  CHECK(night["verdict"] == "drop");
  CHECK(night["rule"] == "MES reads the HMI during shifts");
  CHECK(night["schedule"] == "operating-hours");
  CHECK(night["schedule_open"] == false);
}

TEST_CASE("explain picks the address family") {
  // mes has two IPv4 addresses; the first is used.
  auto json = nlohmann::json::parse(
      explain({"--from", "mes", "--to", "hmi-1", "--proto", "tcp", "--port", "4840", "--json"},
              kWednesdayMorning)
          .out);
  CHECK(json["from"]["address"] == "10.20.1.8");
  // IPv6 literal against an IPv4-only host: a usage error, said plainly.
  Run mixed = explain({"--from", "fd10:1::5", "--to", "historian", "--proto", "tcp", "--port", "1"},
                      kWednesdayMorning);
  CHECK(mixed.code == kExitUsage);
  CHECK(mixed.err.find("no IPv6 address") != std::string::npos);
}

TEST_CASE("explain a drop has a null rule in JSON") {
  auto json = nlohmann::json::parse(
      explain({"--from", "plc-1", "--to", "historian", "--proto", "tcp", "--port", "22", "--json"},
              kWednesdayMorning)
          .out);
  CHECK(json["verdict"] == "drop");
  CHECK(json["rule"].is_null());
  CHECK(json["line"].is_null());
  CHECK(json["schedule"].is_null());
}

TEST_CASE("explain --to gateway means the gateway's address on the sender's side") {
  // plc-1 reaches the local broker on the gateway's OT address, 192.168.10.1.
  auto json = nlohmann::json::parse(
      explain({"--from", "plc-1", "--to", "gateway", "--proto", "tcp", "--port", "1883", "--json"},
              kWednesdayMorning)
          .out);
  CHECK(json["verdict"] == "accept");
  CHECK(json["implicit"] == true);
  CHECK(json["to"]["address"] == "192.168.10.1");
  // IT has no gateway address of its own in the policy: no broker there.
  auto it = nlohmann::json::parse(explain({"--from", "historian", "--to", "gateway", "--proto",
                                           "tcp", "--port", "1883", "--json"},
                                          kWednesdayMorning)
                                      .out);
  CHECK(it["verdict"] == "drop");
}
