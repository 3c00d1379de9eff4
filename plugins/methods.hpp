#pragma once
// Every control method of this binary: the core's (daemon/control/methods.hpp), then each
// registered plugin's (Plugin::methods), in registry order. sekishod's method table and
// `sekishoctl methods` read this one list, so a plugin's methods are listed, role-checked
// and answered like the core's.

#include <span>
#include <vector>

#include "daemon/control/methods.hpp"

namespace sekisho::plugins {

struct Plugin;

// Throws std::logic_error (a mistake in a plugin, which any test finds) for a method not
// named "<plugin name>.<what>", a name given twice, or one without a summary.
std::vector<const control::MethodInfo*> all_methods();
// The same with `plugins` in place of the registry's (tests).
std::vector<const control::MethodInfo*> all_methods(std::span<const Plugin* const> plugins);

}  // namespace sekisho::plugins
