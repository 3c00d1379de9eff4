#include "plugins/methods.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "plugins/plugin.hpp"

namespace sekisho::plugins {

namespace {

bool is_method_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

}  // namespace

std::vector<const control::MethodInfo*> all_methods() {
  return all_methods(registered());
}

std::vector<const control::MethodInfo*> all_methods(std::span<const Plugin* const> plugins) {
  std::vector<const control::MethodInfo*> list;
  for (const control::MethodInfo& method : control::methods()) {
    list.push_back(&method);
  }
  for (const Plugin* plugin : plugins) {
    const std::string prefix = std::string(plugin->name) + ".";
    for (const control::MethodInfo& method : plugin->methods) {
      const std::string where =
          "plugin " + std::string(plugin->name) + ": method '" + std::string(method.name) + "'";
      if (!method.name.starts_with(prefix) || method.name.size() == prefix.size() ||
          !is_method_name(method.name)) {
        throw std::logic_error(where + " is not named " + prefix + "<what> (a-z, 0-9, '_', '.')");
      }
      if (method.summary.empty()) {
        throw std::logic_error(where + " has no summary");
      }
      if (std::any_of(list.begin(), list.end(), [&](const control::MethodInfo* known) {
            return known->name == method.name;
          })) {
        throw std::logic_error(where + " is named twice");
      }
      list.push_back(&method);
    }
  }
  return list;
}

}  // namespace sekisho::plugins
