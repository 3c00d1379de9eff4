// The test binaries' registry of the probe's sekishoctl part: linked instead of the build's
// ctl_registry.cpp (plugins/CMakeLists.txt), with tests/plugins/registry.cpp for the
// policy part.

#include <array>

#include "plugins/ctl_part.hpp"
#include "tests/plugins/probe_plugin.hpp"

namespace sekisho::plugins {

std::span<const RegisteredCtlPart> ctl_parts() {
  static const std::array<RegisteredCtlPart, 1> kParts = {{{"probe", &probe::ctl_part}}};
  return kParts;
}

}  // namespace sekisho::plugins
