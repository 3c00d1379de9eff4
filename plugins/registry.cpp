// The one list of the plugins built into sekishod and sekishoctl: one line per plugin,
// `&<name>::plugin,`, in the order their hooks run. Nothing registers itself: a plugin
// not named here is not in the product.
//
// This file defines `registered()` and nothing else: a test binary that defines its own
// (tests/plugins/registry.cpp) links instead of this one (plugins/CMakeLists.txt).

#include <vector>

#include "plugins/plugin.hpp"

namespace sekisho::plugins {

std::span<const Plugin* const> registered() {
  static const std::vector<const Plugin*> kPlugins = {
      // &monitor::plugin,
  };
  return kPlugins;
}

}  // namespace sekisho::plugins
