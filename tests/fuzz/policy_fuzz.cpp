// libFuzzer target: the whole policy library (YAML, parser, checks, guide rules, and for
// valid input the compiler and the nft renderer) on arbitrary bytes. It must return,
// report errors as diagnostics and never crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/render_nft.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sekisho::policy::LoadResult result = sekisho::policy::load_policy_text(text, "fuzz.yaml");
  // A policy is returned exactly when there is no error.
  if (result.policy.has_value() == result.diagnostics.has_errors()) {
    __builtin_trap();
  }
  if (result.policy) {
    sekisho::ir::Ruleset ruleset = sekisho::policy::compile(*result.policy);
    if (sekisho::ir::render_nft(ruleset, "fuzz.yaml").empty()) {
      __builtin_trap();
    }
  }
  return 0;
}
