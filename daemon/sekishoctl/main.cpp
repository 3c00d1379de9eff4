// sekishoctl: manage sekisho. Local commands (check, explain, decommission) work without the
// daemon.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "daemon/common/clock.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace {

using sekisho::ctl::Command;

void print_overview(std::ostream& out) {
  out << "usage: sekishoctl [--control PATH] [--json] COMMAND [ARGS...]\n"
         "\n"
         "Manage the sekisho industrial gateway firewall.\n"
         "\n"
         "commands:\n";
  std::size_t width = 0;
  for (const Command& command : sekisho::ctl::commands()) {
    width = std::max(width, command.name.size());
  }
  for (const Command& command : sekisho::ctl::commands()) {
    out << "  " << command.name << std::string(width + 2 - command.name.size(), ' ')
        << command.summary << '\n';
  }
  out << "\n"
         "global options:\n"
         "  --control PATH  control socket (default $SEKISHO_CONTROL, else "
         "/run/sekisho/control.sock)\n"
         "  --json          machine-readable output\n"
         "  --help          this text; 'sekishoctl COMMAND --help' for one command\n"
         "  --version       print the version\n"
         "\n"
         "exit codes: 0 ok, 1 negative result, 2 bad command line, 65 invalid request,\n"
         "  69 daemon unreachable (or too many connections: try again later),\n"
         "  75 audit log unavailable, 77 role may not do this, 78 invalid policy\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--version") {
      std::cout << "sekishoctl " << SEKISHO_VERSION << '\n';
      return sekisho::kExitOk;
    }
  }
  const bool help_flag = std::find(args.begin(), args.end(), "--help") != args.end() ||
                         std::find(args.begin(), args.end(), "-h") != args.end();
  auto name = sekisho::ctl::find_command(args);
  bool help_command = name && *name == "help";
  if (help_command && args.size() > 2) {
    name = args.back();  // "sekishoctl help explain"
  } else if (!name || help_command) {
    const bool asked = help_flag || help_command;
    print_overview(asked ? std::cout : std::cerr);
    return asked ? sekisho::kExitOk : sekisho::kExitUsage;
  }
  const Command* command = sekisho::ctl::command_named(sekisho::ctl::commands(), *name);
  if (!command) {
    std::cerr << "sekishoctl: unknown command '" << *name << "'\n";
    print_overview(std::cerr);
    return sekisho::kExitUsage;
  }
  std::string error;
  auto parsed = sekisho::ctl::parse_args(args, sekisho::ctl::option_spec(command->options), error);
  if (!parsed) {
    std::cerr << "sekishoctl " << command->name << ": " << error << '\n' << command->usage;
    return sekisho::kExitUsage;
  }
  if (parsed->help || help_command) {
    std::cout << command->usage;
    return sekisho::kExitOk;
  }
  // The clock schedules are judged by, as sekishod's: `verify --policy` fills scheduled sets
  // and the WAN gate for it, and in test builds the lab steps it (clock.hpp).
  sekisho::ctl::Io io{
      std::cout, std::cerr,
      std::chrono::time_point_cast<std::chrono::seconds>(sekisho::schedule_clock_now())};
  return command->run(*parsed, io);
}
