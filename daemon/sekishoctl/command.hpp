#pragma once
// One sekishoctl command as data: its name, help, options and subcommands. The parser
// (option_spec), the bash completion (sekisho_gen_completion) and the docs check all read
// this, so an option is declared once. Plain literal types, so a plugin can declare its
// commands as constexpr arrays.

#include <span>
#include <string_view>
#include <vector>

#include "daemon/sekishoctl/args.hpp"

namespace sekisho::ctl {

// What follows an option (or is a command's first argument), and so what the completion
// offers for it.
enum class Value {
  None,       // nothing: the option is a flag (--yes); as an argument: nothing is offered
  Text,       // free text (--reason TEXT, --port N): nothing is offered
  File,       // a file name
  Directory,  // a directory name
  Word,       // text, of which Option::words are the usual ones (--proto tcp|udp|...)
};

struct Option {
  std::string_view name;  // without the dashes: "from" is --from
  Value value = Value::Text;
  std::string_view words = {};        // Value::Word: what the completion offers, space-separated
  std::string_view subcommands = {};  // the subcommands that take it, space-separated; empty:
                                      // the command has none
};

struct Command {
  std::string_view name;
  std::string_view summary;         // one line in 'sekishoctl --help'
  std::string_view usage;           // the full help text of 'sekishoctl NAME --help'
  std::span<const Option> options;  // besides the global ones (args.hpp)
  int (*run)(const Args& args, Io& io);
  std::string_view subcommands = {};  // the words that may follow the name, space-separated
  Value argument = Value::Text;       // the first argument after the name (and subcommand)
};

// The words of a space-separated list (Option::words, ::subcommands, Command::subcommands).
std::vector<std::string_view> words_of(std::string_view list);

// The options every command takes: --control PATH, --json, --help ('sekishoctl --version'
// is answered before any command is looked for).
std::span<const Option> global_options();

// What parse_args accepts for `options`: those that take a value, and the flags.
OptionSpec option_spec(std::span<const Option> options);

}  // namespace sekisho::ctl
