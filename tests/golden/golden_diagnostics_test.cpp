// Golden diagnostics: each tests/golden/diagnostics/NAME.yaml is checked and its
// diagnostics must equal NAME.diag byte for byte. Reviewers read the .diag files as the
// user will read the output. SEKISHO_UPDATE_GOLDEN=1 rewrites them.

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <doctest/doctest.h>

#include "policy/load.hpp"

namespace fs = std::filesystem;
using namespace sekisho::policy;

namespace {

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("golden diagnostics") {
  const fs::path dir = SEKISHO_GOLDEN_DIR;
  const bool update = std::getenv("SEKISHO_UPDATE_GOLDEN") != nullptr;
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") {
      cases.push_back(entry.path());
    }
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 3);
  for (const fs::path& policy : cases) {
    // Diagnostics carry the file name as given: use the bare name so the golden text does
    // not depend on where the checkout lives.
    LoadResult result = load_policy_text(read(policy), policy.filename().string());
    std::string actual;
    for (const Diagnostic& d : result.diagnostics.sorted()) {
      actual += format_diagnostic(d) + "\n";
    }
    fs::path expected_path = policy;
    expected_path.replace_extension(".diag");
    if (update) {
      std::ofstream(expected_path, std::ios::binary) << actual;
      continue;
    }
    REQUIRE_MESSAGE(fs::exists(expected_path), "missing " << expected_path);
    CHECK_MESSAGE(actual == read(expected_path), policy.filename().string() << ":\n" << actual);
  }
}
