// The bash completion script, written from the command list: the commands, their
// subcommands, which options each takes and how an option's value or a first argument
// completes. Names and words are plain (command_list_problem), so they go in unquoted.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

// "--a --b" from the options of `options` that `keep` keeps.
template <typename Keep>
std::string dashed(std::span<const Option> options, Keep keep) {
  std::string out;
  for (const Option& option : options) {
    if (keep(option)) {
      out += (out.empty() ? "--" : " --");
      out += option.name;
    }
  }
  return out;
}

bool takes(const Option& option, std::string_view subcommand) {
  for (std::string_view name : words_of(option.subcommands)) {
    if (name == subcommand) {
      return true;
    }
  }
  return false;
}

// The line that sets COMPREPLY for a value (or an argument) of kind `value`, the word
// being completed in `word` ("$cur").
std::string completer(Value value, std::string_view words, std::string_view word) {
  switch (value) {
    case Value::File:
      return "_sekishoctl_files \"" + std::string(word) + "\"";
    case Value::Directory:
      return "_sekishoctl_dirs \"" + std::string(word) + "\"";
    case Value::Word:
      return "_sekishoctl_words \"" + std::string(words) + "\" \"" + std::string(word) + "\"";
    case Value::None:
    case Value::Text:
      break;
  }
  return "COMPREPLY=()";
}

// The branches of `case "$command $prev"` that complete option values: one per way of
// completing, its patterns in the order the options come.
std::string value_branches(std::span<const Command> list) {
  std::vector<std::pair<std::string, std::string>> branches;  // completer, patterns
  const auto add = [&](std::string pattern, const Option& option) {
    std::string line = completer(option.value, option.words, "$cur");
    auto branch = std::find_if(branches.begin(), branches.end(),
                               [&](const auto& known) { return known.first == line; });
    if (branch == branches.end()) {
      branches.emplace_back(std::move(line), std::move(pattern));
    } else {
      branch->second += " | " + pattern;
    }
  };
  for (const Option& option : global_options()) {
    if (option.value != Value::None) {  // with any command, or none: "$command" may be empty
      add("*\" --" + std::string(option.name) + "\"", option);
    }
  }
  for (const Command& command : list) {
    for (const Option& option : command.options) {
      if (option.value != Value::None) {
        add("\"" + std::string(command.name) + " --" + std::string(option.name) + "\"", option);
      }
    }
  }
  std::string out;
  for (const auto& [line, patterns] : branches) {
    out +=
        "        " + patterns + ")\n            " + line + "\n            return\n            ;;\n";
  }
  return out;
}

constexpr std::string_view kHead =
    R"(# bash completion for sekishoctl(1)                                  -*- shell-script -*-
#
# Written by sekisho_gen_completion from sekishoctl's command list (core_commands.cpp in
# daemon/sekishoctl, and the commands plugins register): change the list, not this file.
# Installed as share/bash-completion/completions/sekishoctl. Self-contained: it uses
# no bash-completion helper (_init_completion and friends), so it also works when it is
# sourced by hand.

)";

constexpr std::string_view kHelpers = R"(
# COMPREPLY from a word list, or from files or directories matching the word.
_sekishoctl_words() {
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}
_sekishoctl_files() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$1")
}
_sekishoctl_dirs() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -d -- "$1")
}

_sekishoctl() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=""
    if ((COMP_CWORD > 0)); then
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    # --name=value: bash splits it at '=' (COMP_WORDBREAKS).
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi

    # The command, its subcommand and the words already given, skipping the values of
    # options.
    local command="" subcommands="" subcommand="" value_options word i positionals=0
    local -a given=()
    value_options=$(_sekishoctl_value_options "")
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == "=" ]]; then
            continue
        fi
        if [[ $word == --* ]]; then
            given+=("$word")
            if [[ " $value_options " == *" $word "* ]]; then
                if [[ ${COMP_WORDS[i + 1]-} == "=" ]]; then
                    ((i += 2))
                else
                    ((i += 1))
                fi
            fi
            continue
        fi
        if [[ $word == -* ]]; then
            continue
        fi
        if [[ -z $command ]]; then
            command=$word
            value_options=$(_sekishoctl_value_options "$command")
            subcommands=$(_sekishoctl_subcommands "$command")
        elif [[ -n $subcommands && -z $subcommand ]]; then
            subcommand=$word
        else
            ((positionals++))
        fi
    done

    # The value of an option.
    case "$command $prev" in
)";

constexpr std::string_view kTail = R"(    esac

    if [[ $cur == -* ]]; then
        local options option candidates=""
        if [[ -z $command ]]; then
            options="$_sekishoctl_global_options --version"
        else
            options="$(_sekishoctl_command_options "$command" "$subcommand") $_sekishoctl_global_options"
        fi
        # An option may be given once.
        for option in $options; do
            if [[ " ${given[*]} $candidates " != *" $option "* ]]; then
                candidates+=" $option"
            fi
        done
        _sekishoctl_words "$candidates" "$cur"
        return
    fi

    if [[ -z $command ]] || { [[ $command == help ]] && ((positionals == 0)); }; then
        _sekishoctl_words "$_sekishoctl_commands" "$cur"
    elif [[ -n $subcommands && -z $subcommand ]]; then
        _sekishoctl_words "$subcommands" "$cur"
    elif ((positionals == 0)); then
        _sekishoctl_first_argument "$command" "$cur"
    fi
}

complete -F _sekishoctl sekishoctl
)";

}  // namespace

std::string bash_completion(std::span<const Command> list) {
  std::string out(kHead);

  out += "_sekishoctl_commands=\"";
  for (const Command& command : list) {
    out += std::string(command.name) + " ";
  }
  out += "help\"\n";
  out += "# Options every command takes.\n";
  out += "_sekishoctl_global_options=\"" +
         dashed(global_options(), [](const Option&) { return true; }) + "\"\n";

  out +=
      "\n# The subcommands of command $1, if it has any.\n"
      "_sekishoctl_subcommands() {\n"
      "    case $1 in\n";
  for (const Command& command : list) {
    if (!command.subcommands.empty()) {
      out += "        " + std::string(command.name) + ") echo \"" +
             std::string(command.subcommands) + "\" ;;\n";
    }
  }
  out += "    esac\n}\n";

  const auto has_value = [](const Option& option) { return option.value != Value::None; };
  out +=
      "\n# The options that take a value (the next word, or after '=') once command $1 is"
      " given.\n"
      "_sekishoctl_value_options() {\n"
      "    case $1 in\n";
  const std::string global_values = dashed(global_options(), has_value);
  for (const Command& command : list) {
    const std::string values = dashed(command.options, has_value);
    if (!values.empty()) {
      out += "        " + std::string(command.name) + ") echo \"" + values + " " + global_values +
             "\" ;;\n";
    }
  }
  out += "        *) echo \"" + global_values + "\" ;;\n    esac\n}\n";

  out +=
      "\n# The options command $1 (and subcommand $2) takes, besides the global ones.\n"
      "_sekishoctl_command_options() {\n"
      "    case $1 in\n";
  for (const Command& command : list) {
    if (command.options.empty()) {
      continue;
    }
    out += "        " + std::string(command.name) + ")";
    if (command.subcommands.empty()) {
      out += " echo \"" + dashed(command.options, [](const Option&) { return true; }) + "\" ;;\n";
      continue;
    }
    out += "\n            case $2 in\n";
    for (std::string_view subcommand : words_of(command.subcommands)) {
      const std::string options =
          dashed(command.options, [&](const Option& option) { return takes(option, subcommand); });
      if (!options.empty()) {
        out += "                " + std::string(subcommand) + ") echo \"" + options + "\" ;;\n";
      }
    }
    out += "            esac\n            ;;\n";
  }
  out += "    esac\n}\n";

  out +=
      "\n# What the first argument of command $1 (after its subcommand) completes to.\n"
      "_sekishoctl_first_argument() {\n"
      "    case $1 in\n";
  for (const Command& command : list) {
    if (command.argument != Value::None && command.argument != Value::Text) {
      out += "        " + std::string(command.name) + ") " + completer(command.argument, {}, "$2") +
             " ;;\n";
    }
  }
  out += "    esac\n}\n";

  out += kHelpers;
  out += value_branches(list);
  out += kTail;
  return out;
}

}  // namespace sekisho::ctl
