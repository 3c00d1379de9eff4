// The command list: the core commands and the ones plugins register, and the rules every
// command keeps so that the parser and the generated bash completion can rely on them.

#include <algorithm>
#include <set>

#include "daemon/sekishoctl/commands.hpp"
#include "plugins/ctl_part.hpp"

namespace sekisho::ctl {

namespace {

// A command, subcommand or option name: it is written into the generated completion
// script unquoted, so only lower-case letters, digits and inner dashes.
bool is_name(std::string_view name) {
  return !name.empty() && name.front() >= 'a' && name.front() <= 'z' && name.back() != '-' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

// A word the completion offers ("90s", "daemon.start", "echo-request"): nothing bash
// would expand or split.
bool is_word(std::string_view word) {
  return !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':' || c == '+';
  });
}

bool in(const std::vector<std::string_view>& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

std::optional<std::string> option_problem(const Command& command, const Option& option,
                                          const std::vector<std::string_view>& subcommands) {
  const std::string where = std::string(command.name) + " --" + std::string(option.name);
  if (!is_name(option.name)) {
    return "command '" + std::string(command.name) + "': option '" + std::string(option.name) +
           "' is not a name (a-z, 0-9, inner '-')";
  }
  if (option.name == "version" ||
      std::any_of(global_options().begin(), global_options().end(),
                  [&](const Option& global) { return global.name == option.name; })) {
    return where + ": a global option of that name exists";
  }
  if ((option.value == Value::Word) == option.words.empty()) {
    return where + ": words go with Value::Word, and Value::Word needs words";
  }
  for (std::string_view word : words_of(option.words)) {
    if (!is_word(word)) {
      return where + ": '" + std::string(word) + "' is not a word the completion can offer";
    }
  }
  const std::vector<std::string_view> takes = words_of(option.subcommands);
  if (subcommands.empty() != takes.empty()) {
    return where + (subcommands.empty() ? ": names subcommands, but the command has none"
                                        : ": names none of the command's subcommands");
  }
  for (std::string_view subcommand : takes) {
    if (!in(subcommands, subcommand)) {
      return where + ": no subcommand '" + std::string(subcommand) + "'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> command_problem(const Command& command) {
  const std::string where = "command '" + std::string(command.name) + "'";
  if (!is_name(command.name)) {
    return where + ": not a name (a-z, 0-9, inner '-')";
  }
  if (command.name == "help") {
    return where + ": the name is sekishoctl's own ('sekishoctl help COMMAND')";
  }
  if (command.summary.empty() || command.usage.empty() || !command.run) {
    return where + ": needs a summary, a usage text and a function to run";
  }
  if (command.argument == Value::Word || command.argument == Value::None) {
    return where + ": a first argument is text, a file or a directory";
  }
  const std::vector<std::string_view> subcommands = words_of(command.subcommands);
  for (std::size_t i = 0; i < subcommands.size(); ++i) {
    if (!is_name(subcommands[i])) {
      return where + ": subcommand '" + std::string(subcommands[i]) + "' is not a name";
    }
    if (std::find(subcommands.begin(), subcommands.begin() + i, subcommands[i]) !=
        subcommands.begin() + i) {
      return where + ": subcommand '" + std::string(subcommands[i]) + "' twice";
    }
  }
  std::set<std::string_view> options;
  for (const Option& option : command.options) {
    if (auto problem = option_problem(command, option, subcommands)) {
      return problem;
    }
    if (!options.insert(option.name).second) {
      return where + ": option --" + std::string(option.name) + " twice";
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string_view> words_of(std::string_view list) {
  std::vector<std::string_view> words;
  while (!list.empty()) {
    const std::size_t start = list.find_first_not_of(' ');
    if (start == std::string_view::npos) {
      break;
    }
    list.remove_prefix(start);
    const std::size_t end = std::min(list.find(' '), list.size());
    words.push_back(list.substr(0, end));
    list.remove_prefix(end);
  }
  return words;
}

std::vector<Command> command_list(std::span<const Command> extra) {
  std::vector<Command> list(core_commands().begin(), core_commands().end());
  list.insert(list.end(), extra.begin(), extra.end());
  return list;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = [] {
    std::vector<Command> extra;
    for (const plugins::RegisteredCtlPart& registered : plugins::ctl_parts()) {
      extra.insert(extra.end(), registered.part->commands.begin(), registered.part->commands.end());
    }
    return command_list(extra);
  }();
  return kCommands;
}

const Command* command_named(std::span<const Command> list, std::string_view name) {
  auto found = std::find_if(list.begin(), list.end(),
                            [&](const Command& command) { return command.name == name; });
  return found == list.end() ? nullptr : &*found;
}

std::optional<std::string> command_list_problem(std::span<const Command> list) {
  std::set<std::string_view> names;
  for (const Command& command : list) {
    if (auto problem = command_problem(command)) {
      return problem;
    }
    if (!names.insert(command.name).second) {
      return "command '" + std::string(command.name) + "' twice";
    }
  }
  return std::nullopt;
}

}  // namespace sekisho::ctl
