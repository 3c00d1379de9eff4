// The plugin seam's method and sekishoctl parts with the test plugin "probe": its control
// methods join the core's (plugins::all_methods, the daemon's method table, `methods`), a
// plugin cannot misname one, and its commands are run, listed and completed like the
// core's. (Its daemon part runs in the lab: tests/plugins/daemon_lab.sh.)

#include <stdexcept>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/control/method_table.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "plugins/ctl_part.hpp"
#include "plugins/methods.hpp"
#include "tests/ctl/run_command.hpp"
#include "tests/plugins/probe_plugin.hpp"

using namespace sekisho;

TEST_CASE("a plugin's control methods join the core's, named after the plugin") {
  const auto methods = plugins::all_methods();
  REQUIRE(methods.size() == control::methods().size() + 3);
  CHECK(methods[methods.size() - 3]->name == plugins::probe::kStats.name);
  CHECK(methods[methods.size() - 2]->name == plugins::probe::kNote.name);
  CHECK(methods.back()->name == plugins::probe::kWatch.name);
  // The daemon's table knows them: bound like the core's, and missing until bound.
  control::MethodTable table(methods);
  CHECK_THROWS_AS(table.bind(control::MethodInfo{"probe.stats", control::Role::Admin,
                                                 plugins::probe::kStats.summary},
                             [](const control::MethodTable::Call&) { return nlohmann::json(); }),
                  std::logic_error);
  CHECK(table.check().size() == methods.size());

  using ctl::testing::run_command;
  auto listed = run_command(ctl::run_methods, {"methods"}, {});
  CHECK(listed.out.find("probe.note      operator") != std::string::npos);

  // Each way a plugin can name a method wrongly.
  for (std::string_view name : {"stats", "probe.", "prob.stats", "probe.Stats", "status"}) {
    CAPTURE(name);
    const control::MethodInfo bad[] = {{name, control::Role::Viewer, "a summary"}};
    const plugins::Plugin plugin{"probe", {}, nullptr, bad};
    const plugins::Plugin* list[] = {&plugin};
    CHECK_THROWS_AS(plugins::all_methods(list), std::logic_error);
  }
  const control::MethodInfo twice[] = {{"probe.a", control::Role::Viewer, "a"},
                                       {"probe.a", control::Role::Admin, "b"}};
  const plugins::Plugin doubled{"probe", {}, nullptr, twice};
  const plugins::Plugin* doubled_list[] = {&doubled};
  CHECK_THROWS_AS(plugins::all_methods(doubled_list), std::logic_error);
}

TEST_CASE("a plugin's sekishoctl commands are run, listed and completed like the core's") {
  REQUIRE(plugins::ctl_parts().size() == 1);
  const ctl::Command* probe = ctl::command_named(ctl::commands(), "probe");
  REQUIRE(probe != nullptr);
  CHECK(bool(probe->run == plugins::ctl_parts()[0].part->commands[0].run));
  CHECK(ctl::command_list_problem(ctl::commands()).value_or("") == "");
  const std::string completion = ctl::bash_completion(ctl::commands());
  CHECK(completion.find("probe") != std::string::npos);
  CHECK(completion.find("stats note watch") != std::string::npos);
  // Without a daemon: the usual exit for an unreachable one, after the usage checks.
  using ctl::testing::run_command;
  auto usage = run_command(probe->run, {"probe", "note"}, ctl::option_spec(probe->options));
  CHECK(usage.code == kExitUsage);
  auto unreachable =
      run_command(probe->run, {"probe", "stats", "--control", "/nonexistent/sekisho.sock"},
                  ctl::option_spec(probe->options));
  CHECK(unreachable.code == kExitUnavailable);
}
