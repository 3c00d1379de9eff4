// sekishoctl's command list: assembled from the core commands and extra (plugins')
// commands, its rules, the parser's options taken from it, and each command's usage lines
// naming exactly the options the data declares for each subcommand.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <unistd.h>

#include "daemon/sekishoctl/commands.hpp"

using namespace sekisho::ctl;

namespace {

int run_nothing(const Args&, Io&) {
  return 0;
}

constexpr Option kProbeOptions[] = {
    {.name = "level", .value = Value::Word, .words = "low high", .subcommands = "show"},
    {.name = "quiet", .value = Value::None, .subcommands = "show reset"},
};

Command probe_command(std::string_view name = "probe") {
  return {.name = name,
          .summary = "a plugin's command",
          .usage = "usage: sekishoctl probe show [--level L] [--quiet]\n",
          .options = kProbeOptions,
          .run = run_nothing,
          .subcommands = "show reset"};
}

// The problem command_list_problem finds with one command appended, or "" for none.
std::string problem_with(const Command& extra) {
  return command_list_problem(command_list(std::span(&extra, 1))).value_or("");
}

// The options named in `text`, without the dashes.
std::set<std::string> options_in(const std::string& text) {
  std::set<std::string> names;
  static const std::regex kOption("--([a-z][a-z0-9-]*)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kOption);
       it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

// "show: --a --b; reset: --c" for a failure message.
std::string describe(const std::map<std::string, std::set<std::string>>& options) {
  std::string out;
  for (const auto& [subcommand, names] : options) {
    out += (out.empty() ? "" : "; ") + (subcommand.empty() ? "(none)" : subcommand) + ":";
    for (const std::string& name : names) {
      out += " --" + name;
    }
  }
  return out;
}

// What `script`'s completion offers for the word `cur` after the words `line`, sorted and
// space-separated: bash runs it as it would on a TAB.
std::string offered(const std::string& script, const std::string& line,
                    const std::string& cur = "") {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("sekisho-command-list-test-" + std::to_string(::getpid()) + ".bash");
  std::ofstream(file) << script;
  const std::string command = "bash --norc --noprofile -c 'source \"$0\"; COMP_WORDS=(" + line +
                              " \"" + cur +
                              "\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _sekishoctl; "
                              "printf \"%s\\n\" \"${COMPREPLY[@]}\" | sort' " +
                              file.string();
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe)) {
      out += buffer;
    }
    ::pclose(pipe);
  }
  std::filesystem::remove(file);
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

}  // namespace

TEST_CASE("the core command list keeps every rule, and sekishoctl runs it") {
  CHECK(command_list_problem(core_commands()) == std::nullopt);
  REQUIRE(commands().size() >= core_commands().size());
  for (std::size_t i = 0; i < core_commands().size(); ++i) {
    CHECK(commands()[i].name == core_commands()[i].name);
  }
  REQUIRE(command_named(commands(), "explain"));
  CHECK((command_named(commands(), "explain")->run == run_explain));
  CHECK(command_named(commands(), "help") == nullptr);
}

TEST_CASE("extra commands are appended after the core ones, in their order") {
  const Command extra[] = {probe_command("probe"), probe_command("probe-two")};
  const std::vector<Command> list = command_list(extra);
  REQUIRE(list.size() == core_commands().size() + 2);
  CHECK(list[core_commands().size()].name == "probe");
  CHECK(list.back().name == "probe-two");
  CHECK(command_list_problem(list) == std::nullopt);
  CHECK(command_named(list, "probe-two") == &list.back());
}

TEST_CASE("an extra command is completed as the core ones are") {
  const Command extra[] = {probe_command()};
  const std::string script = bash_completion(command_list(extra));
  CHECK(offered(script, "sekishoctl", "pr") == "probe ");
  CHECK(offered(script, "sekishoctl probe") == "reset show ");
  CHECK(offered(script, "sekishoctl probe show", "--") ==
        "--control --help --json --level --quiet ");
  CHECK(offered(script, "sekishoctl probe reset", "--") == "--control --help --json --quiet ");
  CHECK(offered(script, "sekishoctl probe show --level") == "high low ");
  CHECK(offered(script, "sekishoctl probe show --level high", "--") ==
        "--control --help --json --quiet ");
  // Without the extra command, none of it.
  CHECK(offered(bash_completion(core_commands()), "sekishoctl probe show", "--") ==
        "--control --help --json ");
}

TEST_CASE("a command list that breaks a rule is refused, saying which command and why") {
  CHECK(problem_with(probe_command("explain")) == "command 'explain' twice");
  CHECK(problem_with(probe_command("help")).find("sekishoctl's own") != std::string::npos);
  CHECK(problem_with(probe_command("Probe")).find("not a name") != std::string::npos);
  CHECK(problem_with(probe_command("probe;rm")).find("not a name") != std::string::npos);

  Command no_run = probe_command();
  no_run.run = nullptr;
  CHECK(problem_with(no_run).find("a function to run") != std::string::npos);

  Command twice = probe_command();
  twice.subcommands = "show reset show";
  CHECK(problem_with(twice) == "command 'probe': subcommand 'show' twice");

  const Option json[] = {{.name = "json", .value = Value::None, .subcommands = "show"}};
  Command global = probe_command();
  global.options = json;
  CHECK(problem_with(global) == "probe --json: a global option of that name exists");

  const Option elsewhere[] = {{.name = "level", .subcommands = "list"}};
  Command missing = probe_command();
  missing.options = elsewhere;
  CHECK(problem_with(missing) == "probe --level: no subcommand 'list'");

  const Option none[] = {{.name = "level"}};
  Command unplaced = probe_command();
  unplaced.options = none;
  CHECK(problem_with(unplaced).find("names none of the command's subcommands") !=
        std::string::npos);

  const Option shell[] = {
      {.name = "level", .value = Value::Word, .words = "low $(reboot)", .subcommands = "show"}};
  Command expands = probe_command();
  expands.options = shell;
  CHECK(problem_with(expands).find("'$(reboot)' is not a word") != std::string::npos);

  const Option stray[] = {{.name = "level", .words = "low", .subcommands = "show"}};
  Command words = probe_command();
  words.options = stray;
  CHECK(problem_with(words).find("words go with Value::Word") != std::string::npos);

  const Option doubled[] = {{.name = "level", .subcommands = "show"},
                            {.name = "level", .subcommands = "reset"}};
  Command both = probe_command();
  both.options = doubled;
  CHECK(problem_with(both) == "command 'probe': option --level twice");
}

TEST_CASE("the parser accepts a command's options as its data declares them") {
  const Command* decommission = command_named(commands(), "decommission");
  REQUIRE(decommission);
  const OptionSpec spec = option_spec(decommission->options);
  CHECK(spec.flags == std::set<std::string, std::less<>>{"yes"});
  CHECK(spec.values ==
        std::set<std::string, std::less<>>{"out", "state-dir", "config-dir", "broker-store"});
  std::string error;
  auto args = parse_args({"sekishoctl", "decommission", "--yes", "--out", "f.tar.gz"}, spec, error);
  REQUIRE(args);
  CHECK(args->flag("yes"));
  CHECK(*args->value("out") == "f.tar.gz");
  CHECK_FALSE(parse_args({"sekishoctl", "decommission", "--yes=no"}, spec, error));
}

TEST_CASE("each usage line names exactly the options its command declares") {
  std::set<std::string> globals;
  for (const Option& option : global_options()) {
    globals.emplace(option.name);
  }
  for (const Command& command : commands()) {
    CAPTURE(command.name);
    // The usage forms: lines up to the first empty one, continuation lines joined.
    std::vector<std::string> forms;
    std::istringstream usage{std::string(command.usage)};
    const std::string start = "sekishoctl " + std::string(command.name);
    for (std::string line; std::getline(usage, line) && !line.empty();) {
      if (line.find(start) != std::string::npos) {
        forms.push_back(line.substr(line.find(start) + start.size()));
      } else {
        REQUIRE_FALSE(forms.empty());
        forms.back() += line;
      }
    }
    REQUIRE_FALSE(forms.empty());
    // Per subcommand ("" without), the options its forms name besides the global ones.
    const std::vector<std::string_view> subcommands = words_of(command.subcommands);
    std::map<std::string, std::set<std::string>> named;
    for (const std::string& form : forms) {
      std::istringstream words(form);
      std::string first;
      words >> first;
      first.erase(
          std::remove_if(first.begin(), first.end(), [](char c) { return c == '[' || c == ']'; }),
          first.end());
      const bool is_subcommand =
          std::find(subcommands.begin(), subcommands.end(), first) != subcommands.end();
      CHECK_MESSAGE(is_subcommand == !subcommands.empty(), "form: " << form);
      std::set<std::string>& options = named[is_subcommand ? first : ""];
      for (const std::string& option : options_in(form)) {
        if (!globals.contains(option)) {
          options.insert(option);
        }
      }
    }
    std::map<std::string, std::set<std::string>> declared;
    for (const Option& option : command.options) {
      if (subcommands.empty()) {
        declared[""].emplace(option.name);
      }
      for (std::string_view subcommand : words_of(option.subcommands)) {
        declared[std::string(subcommand)].emplace(option.name);
      }
    }
    // A subcommand without a form of its own ('link [status]' is one) declares none.
    std::erase_if(named, [](const auto& entry) { return entry.second.empty(); });
    CHECK(describe(named) == describe(declared));
  }
}
