#pragma once
// A plugin's part of sekishoctl: its commands, which sekishoctl runs, lists in --help and
// completes like its own (daemon/sekishoctl/command.hpp; the bash completion is generated
// from them). Registered by the plugin's line of SEKISHO_PLUGINS: when
// plugins/<name>/CMakeLists.txt makes the library sekisho_plugin_<name>_ctl, which defines
// `extern const CtlPart sekisho::plugins::<name>::ctl_part`, sekishoctl has it (the build
// writes ctl_registry.cpp).

#include <span>
#include <string_view>

#include "daemon/sekishoctl/command.hpp"

namespace sekisho::plugins {

struct CtlPart {
  // Names no core command has (the command list's check refuses a clash).
  std::span<const ctl::Command> commands;
};

// The sekishoctl parts of this binary's plugins, in registry order: the build's
// ctl_registry.cpp, or a test binary's own (tests/plugins/).
struct RegisteredCtlPart {
  std::string_view plugin;
  const CtlPart* part;
};
std::span<const RegisteredCtlPart> ctl_parts();

}  // namespace sekisho::plugins
