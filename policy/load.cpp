#include "policy/load.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "policy/checks.hpp"
#include "policy/parser.hpp"
#include "policy/plugin_parts.hpp"
#include "policy/reader.hpp"
#include "policy/yaml_tree.hpp"

namespace sekisho::policy {

LoadResult load_policy_text(std::string_view text, std::string file) {
  LoadResult result{std::nullopt, Diagnostics(std::move(file)), std::string(text)};
  std::optional<YamlNode> root = parse_yaml(text, result.diagnostics);
  if (!root) {
    return result;
  }
  Reader reader(result.diagnostics);
  Policy policy = parse_policy(*root, reader);
  link_and_check(policy, result.diagnostics);
  check_plugins(policy, result.diagnostics);
  // Also on a policy with errors: every problem of the file in one run. Names that did
  // not resolve simply match nothing there.
  check_guide_rules(policy, result.diagnostics);
  if (!result.diagnostics.has_errors()) {
    result.policy = std::move(policy);
  }
  return result;
}

LoadResult load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result{std::nullopt, Diagnostics(path), {}};
    result.diagnostics.error({}, "io",
                             std::string("cannot read the file: ") + std::strerror(errno));
    return result;
  }
  std::string text;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxPolicyBytes) {
      break;  // parse_yaml reports the size
    }
  }
  if (in.bad()) {
    LoadResult result{std::nullopt, Diagnostics(path), {}};
    result.diagnostics.error({}, "io", "cannot read the file");
    return result;
  }
  return load_policy_text(text, path);
}

}  // namespace sekisho::policy
