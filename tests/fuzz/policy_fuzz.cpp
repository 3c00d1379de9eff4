// libFuzzer target: the whole policy front end (YAML, parser, checks, guide rules) on
// arbitrary bytes. It must return, report errors as diagnostics and never crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sekisho::policy::LoadResult result = sekisho::policy::load_policy_text(text, "fuzz.yaml");
  // A policy is returned exactly when there is no error.
  if (result.policy.has_value() == result.diagnostics.has_errors()) {
    __builtin_trap();
  }
  return 0;
}
