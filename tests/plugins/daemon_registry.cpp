// The test binaries' registry of the probe's daemon part: linked instead of the build's
// daemon_registry.cpp (plugins/CMakeLists.txt), with tests/plugins/registry.cpp for the
// policy part.

#include <array>

#include "plugins/daemon_part.hpp"
#include "tests/plugins/probe_plugin.hpp"

namespace sekisho::plugins {

std::span<const RegisteredDaemonPart> daemon_parts() {
  static const std::array<RegisteredDaemonPart, 1> kParts = {{{"probe", &probe::daemon_part}}};
  return kParts;
}

}  // namespace sekisho::plugins
