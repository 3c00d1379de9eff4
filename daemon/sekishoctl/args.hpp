#pragma once
// sekishoctl's command line: `sekishoctl [--control PATH] [--json] COMMAND ARGS...`, global
// options before or after the command (docs/architecture.md, Conventions). Options are `--name
// VALUE` or `--name=VALUE`; flags are `--name`.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sekisho::ctl {

// The options one command accepts, besides the global ones.
struct OptionSpec {
  std::set<std::string, std::less<>> values;  // take a value: "from", "to", ...
  std::set<std::string, std::less<>> flags;   // take none
};

struct Args {
  std::string command;
  std::vector<std::string> positional;  // after the command
  std::map<std::string, std::string, std::less<>> values;
  std::set<std::string, std::less<>> flags;
  std::string control;  // --control, else $SEKISHO_CONTROL, else the default path
  bool json = false;
  bool help = false;

  const std::string* value(std::string_view name) const;
  // Option --NAME as a positive duration in seconds ("90m", "1h30m", "3600"): nullopt when
  // it is absent (`error` empty) or not one (`error` says why, naming the option).
  std::optional<std::int64_t> duration(std::string_view name, std::string& error) const;
  bool flag(std::string_view name) const { return flags.contains(name); }
};

inline constexpr std::string_view kDefaultControlPath = "/run/sekisho/control.sock";

// The command word: the first argument that is not a global option or its value.
std::optional<std::string> find_command(const std::vector<std::string>& argv);

// Parses everything after argv[0]. On a usage error returns nullopt and sets `error`.
std::optional<Args> parse_args(const std::vector<std::string>& argv, const OptionSpec& spec,
                               std::string& error);

// What a command reads and writes besides its arguments, so tests can run commands
// in-process with a fixed clock.
struct Io {
  std::ostream& out;
  std::ostream& err;
  std::chrono::sys_seconds now;  // "now" for commands that default to it (explain --at)
};

}  // namespace sekisho::ctl
