#pragma once
// Runs one sekishoctl command in-process, as `sekishoctl ARGV...` would, and keeps what it
// printed: the command tests' common harness.

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "daemon/sekishoctl/args.hpp"

namespace sekisho::ctl::testing {

struct Run {
  int code;
  std::string out;
  std::string err;
};

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
