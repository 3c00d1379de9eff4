// The plugin tests' registry: the product's plugins (none yet) and the test plugin
// "probe". Linked instead of plugins/registry.cpp (plugins/CMakeLists.txt).

#include <vector>

#include "plugins/plugin.hpp"
#include "tests/plugins/probe_plugin.hpp"

namespace sekisho::plugins {

std::span<const Plugin* const> registered() {
  static const std::vector<const Plugin*> kPlugins = {
      &probe::plugin,
  };
  return kPlugins;
}

}  // namespace sekisho::plugins
