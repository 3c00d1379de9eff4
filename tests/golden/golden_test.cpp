// Golden files, reviewed like code: each input under tests/golden/<kind>/ (and, for
// compile, each example under configs/) must produce exactly its expected file.
//   diagnostics/NAME.yaml -> NAME.diag   every diagnostic, as `sekishoctl check` prints it
//   compile/NAME.yaml     -> NAME.nft    the ruleset, as `sekishoctl compile` prints it
// SEKISHO_UPDATE_GOLDEN=1 rewrites the expectations; review the diff before committing.

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include <doctest/doctest.h>

#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/render_nft.hpp"

namespace fs = std::filesystem;
using namespace sekisho;
using namespace sekisho::policy;

namespace {

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<fs::path> yaml_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Compares produce(input) with `expected`, or rewrites `expected` when asked to.
void check_golden(const fs::path& input, const fs::path& expected,
                  const std::function<std::string(const fs::path&)>& produce) {
  const std::string actual = produce(input);
  if (std::getenv("SEKISHO_UPDATE_GOLDEN")) {
    std::ofstream(expected, std::ios::binary) << actual;
    return;
  }
  REQUIRE_MESSAGE(fs::exists(expected), "missing " << expected.string());
  CHECK_MESSAGE(actual == read(expected), input.filename().string()
                                              << " differs from " << expected.filename().string()
                                              << ":\n"
                                              << actual);
}

// Diagnostics and rulesets name the file as given: use the bare name so the golden text
// does not depend on where the checkout lives.
std::string diagnostics_of(const fs::path& policy) {
  LoadResult result = load_policy_text(read(policy), policy.filename().string());
  std::string out;
  for (const Diagnostic& d : result.diagnostics.sorted()) {
    out += format_diagnostic(d) + "\n";
  }
  return out;
}

std::string ruleset_of(const fs::path& policy) {
  LoadResult result = load_policy_text(read(policy), policy.filename().string());
  REQUIRE_MESSAGE(result.policy, policy.string() << " is not valid");
  return ir::render_nft(compile(*result.policy), policy.filename().string());
}

}  // namespace

TEST_CASE("golden diagnostics") {
  const fs::path dir = fs::path(SEKISHO_GOLDEN_DIR) / "diagnostics";
  auto cases = yaml_files(dir);
  REQUIRE(cases.size() >= 3);
  for (const fs::path& policy : cases) {
    check_golden(policy, fs::path(policy).replace_extension(".diag"), diagnostics_of);
  }
}

TEST_CASE("golden rulesets") {
  const fs::path dir = fs::path(SEKISHO_GOLDEN_DIR) / "compile";
  auto cases = yaml_files(dir);
  REQUIRE(cases.size() >= 3);
  for (const fs::path& policy : cases) {
    check_golden(policy, fs::path(policy).replace_extension(".nft"), ruleset_of);
  }
  for (const fs::path& policy : yaml_files(SEKISHO_CONFIGS_DIR)) {
    check_golden(policy, dir / ("configs-" + policy.stem().string() + ".nft"), ruleset_of);
  }
}
