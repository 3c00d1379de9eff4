// The shipped programs' test hooks: none is ever set (test_hooks.hpp).
#include "daemon/common/test_hooks.hpp"

namespace sekisho::test_hooks {

std::optional<long long> clock_offset_seconds() {
  return std::nullopt;
}

std::optional<bool> clock_synchronised() {
  return std::nullopt;
}

std::optional<int> event_buffer() {
  return std::nullopt;
}

std::optional<std::string> hooks_dir() {
  return std::nullopt;
}

}  // namespace sekisho::test_hooks
