#include "plugins/docs.hpp"

#include <algorithm>
#include <set>

#include "policy/keys.hpp"

namespace sekisho::plugins {

namespace {

using Place = PolicyPart::Place;

bool valid_plugin_name(std::string_view name) {
  return !name.empty() && name.size() <= 32 && name.front() >= 'a' && name.front() <= 'z' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

bool core_has_key(std::string_view path, std::string_view key) {
  for (const policy::MappingKeys& mapping : policy::core_mapping_keys()) {
    if (mapping.path == path &&
        std::find(mapping.keys.begin(), mapping.keys.end(), key) != mapping.keys.end()) {
      return true;
    }
  }
  return false;
}

}  // namespace

nlohmann::ordered_json merged_schema(const nlohmann::ordered_json& core,
                                     std::span<const Plugin* const> plugins) {
  nlohmann::ordered_json schema = core;
  for (const Plugin* plugin : plugins) {
    for (const PolicyPart& part : plugin->policy) {
      nlohmann::ordered_json fragment = nlohmann::ordered_json::parse(part.schema);
      nlohmann::ordered_json& properties =
          part.place == Place::Section ? schema["properties"]
                                       : schema["properties"]["rules"]["items"]["properties"];
      properties[std::string(part.key)] = std::move(fragment);
    }
  }
  return schema;
}

std::string merged_manual(std::string_view page, std::span<const Plugin* const> plugins) {
  std::string fragments;
  for (const Plugin* plugin : plugins) {
    for (const PolicyPart& part : plugin->policy) {
      fragments += part.manual;
      if (!fragments.empty() && fragments.back() != '\n') {
        fragments += '\n';
      }
    }
  }
  if (fragments.empty()) {
    return std::string(page);
  }
  // The end of KEYS: the next section heading after ".SH KEYS".
  const std::size_t keys = page.find("\n.SH KEYS\n");
  const std::size_t next = keys == std::string_view::npos ? keys : page.find("\n.SH ", keys + 1);
  const std::size_t at = next == std::string_view::npos ? page.size() : next + 1;
  return std::string(page.substr(0, at)) + fragments + std::string(page.substr(at));
}

std::vector<std::string> registry_problems(std::span<const Plugin* const> plugins) {
  std::vector<std::string> problems;
  std::set<std::string_view> names;
  std::set<std::pair<Place, std::string_view>> keys;
  for (const Plugin* plugin : plugins) {
    const std::string name(plugin->name);
    if (!valid_plugin_name(plugin->name) || plugin->name.find("_to_") != std::string_view::npos) {
      problems.push_back("plugin '" + name + "': a name is lower case letters, digits and '_'");
    }
    if (!names.insert(plugin->name).second) {
      problems.push_back("plugin '" + name + "' is registered twice");
    }
    for (const PolicyPart& part : plugin->policy) {
      const std::string key(part.key);
      const std::string_view parent = part.place == Place::Section ? "" : "rules[]";
      const std::string path = part.place == Place::Section ? key : "rules[]." + key;
      if (key.empty() || core_has_key(parent, part.key)) {
        problems.push_back("plugin '" + name + "': key '" + path + "' is the core's");
      }
      if (!keys.emplace(part.place, part.key).second) {
        problems.push_back("plugin '" + name + "': key '" + path + "' is another plugin's");
      }
      for (const policy::MappingKeys& mapping : part.mappings) {
        const std::string_view at = mapping.path;
        if (at != path && at.substr(0, path.size() + 1) != path + ".") {
          problems.push_back("plugin '" + name + "': mapping '" + std::string(at) +
                             "' is not under '" + path + "'");
        }
      }
      if (!part.parse || part.schema.empty() || part.manual.empty()) {
        problems.push_back("plugin '" + name + "': key '" + path +
                           "' needs a parse function, a schema and a manual fragment");
      } else if (!nlohmann::json::accept(part.schema)) {
        problems.push_back("plugin '" + name + "': the schema of '" + path + "' is not JSON");
      }
    }
  }
  return problems;
}

}  // namespace sekisho::plugins
