#include "daemon/common/json_depth.hpp"

namespace sekisho {

bool nests_at_most(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return false;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

std::optional<nlohmann::json> parse_json_nesting_at_most(std::string_view text, int max_depth,
                                                         bool* too_deep) {
  const bool deep = !nests_at_most(text, max_depth);
  if (too_deep) {
    *too_deep = deep;
  }
  if (deep) {
    return std::nullopt;
  }
  nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (value.is_discarded()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace sekisho
