#include "daemon/sekishoctl/args.hpp"

#include <cstdlib>

#include "daemon/sekishoctl/command.hpp"
#include "policy/units.hpp"

namespace sekisho::ctl {

namespace {

constexpr Option kGlobalOptions[] = {
    {.name = "control", .value = Value::File},
    {.name = "json", .value = Value::None},
    {.name = "help", .value = Value::None},
};

const OptionSpec& global_spec() {
  static const OptionSpec kGlobal = option_spec(kGlobalOptions);
  return kGlobal;
}

// "--name=value" -> {"name", "value"}; "--name" -> {"name", nullopt}; else nullopt.
std::optional<std::pair<std::string, std::optional<std::string>>> split_option(
    std::string_view arg) {
  if (arg.size() < 3 || arg.substr(0, 2) != "--") {
    return std::nullopt;
  }
  arg.remove_prefix(2);
  auto eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return std::pair{std::string(arg), std::optional<std::string>{}};
  }
  return std::pair{std::string(arg.substr(0, eq)),
                   std::optional<std::string>{std::string(arg.substr(eq + 1))}};
}

}  // namespace

const std::string* Args::value(std::string_view name) const {
  auto it = values.find(name);
  return it == values.end() ? nullptr : &it->second;
}

std::optional<std::int64_t> Args::duration(std::string_view name, std::string& error) const {
  error.clear();
  const std::string* text = value(name);
  if (!text) {
    return std::nullopt;
  }
  std::optional<std::int64_t> seconds = policy::parse_duration(*text);
  if (!seconds || *seconds <= 0) {
    error = "--" + std::string(name) + " '" + *text +
            "': a duration is <int><d|h|m|s> repeated (\"1h30m\") or seconds";
    return std::nullopt;
  }
  return seconds;
}

std::optional<std::string> find_command(const std::vector<std::string>& argv) {
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") {
      return i + 1 < argv.size() ? std::optional{argv[i + 1]} : std::nullopt;
    }
    auto option = split_option(arg);
    if (!option) {
      if (arg == "-h") {
        continue;
      }
      return arg;
    }
    if (global_spec().values.contains(option->first) && !option->second) {
      ++i;  // skip its value
    }
  }
  return std::nullopt;
}

std::optional<Args> parse_args(const std::vector<std::string>& argv, const OptionSpec& spec,
                               std::string& error) {
  Args args;
  bool options_done = false;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (!options_done && arg == "--") {
      options_done = true;
      continue;
    }
    if (!options_done && arg == "-h") {
      args.help = true;
      continue;
    }
    auto option = options_done ? std::nullopt : split_option(arg);
    if (!option) {
      if (!options_done && arg.size() > 1 && arg[0] == '-') {
        error = "unknown option '" + arg + "'";
        return std::nullopt;
      }
      if (args.command.empty()) {
        args.command = arg;
      } else {
        args.positional.push_back(arg);
      }
      continue;
    }
    const auto& [name, inline_value] = *option;
    bool takes_value = spec.values.contains(name) || global_spec().values.contains(name);
    bool is_flag = spec.flags.contains(name) || global_spec().flags.contains(name);
    if (!takes_value && !is_flag) {
      error = "unknown option '--" + name + "'";
      return std::nullopt;
    }
    if (is_flag) {
      if (inline_value) {
        error = "option '--" + name + "' takes no value";
        return std::nullopt;
      }
      args.flags.insert(name);
      continue;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      error = "option '--" + name + "' needs a value";
      return std::nullopt;
    }
    if (args.values.contains(name)) {
      error = "option '--" + name + "' is given twice";
      return std::nullopt;
    }
    args.values.emplace(name, std::move(value));
  }
  args.json = args.flag("json");
  args.help = args.help || args.flag("help");
  if (const std::string* control = args.value("control")) {
    args.control = *control;
  } else if (const char* env = std::getenv("SEKISHO_CONTROL"); env && *env) {
    args.control = env;
  } else {
    args.control = std::string(kDefaultControlPath);
  }
  return args;
}

std::span<const Option> global_options() {
  return kGlobalOptions;
}

OptionSpec option_spec(std::span<const Option> options) {
  OptionSpec spec;
  for (const Option& option : options) {
    (option.value == Value::None ? spec.flags : spec.values).emplace(option.name);
  }
  return spec;
}

}  // namespace sekisho::ctl
