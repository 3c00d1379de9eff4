#pragma once
// Runs one sekishoctl command in-process, as `sekishoctl ARGV...` would, and keeps what it
// printed: the command tests' common harness.

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "daemon/sekishoctl/args.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl::testing {

struct Run {
  int code;
  std::string out;
  std::string err;
};

// The options sekishoctl's command `name` takes, as its command list declares them.
inline OptionSpec options_of(std::string_view name) {
  const Command* command = command_named(commands(), name);
  REQUIRE_MESSAGE(command, "no command " << name);
  return option_spec(command->options);
}

// `argv` starts with the command word ("check", "explain", ...).
inline Run run_command(int (*command)(const Args&, Io&), std::vector<std::string> argv,
                       const OptionSpec& options, std::chrono::sys_seconds now = {}) {
  argv.insert(argv.begin(), "sekishoctl");
  std::string error;
  auto args = parse_args(argv, options, error);
  REQUIRE_MESSAGE(args, error);
  std::ostringstream out, err;
  Io io{out, err, now};
  const int code = command(*args, io);
  return {code, out.str(), err.str()};
}

}  // namespace sekisho::ctl::testing
