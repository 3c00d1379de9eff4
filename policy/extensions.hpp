#pragma once
// What plugins add to a parsed policy (plugins/plugin.hpp): the value of a plugin's
// top-level section on Policy, of its clause on each Rule. Typed: a value is kept as a
// shared_ptr<const T>, so copies of the policy (commit-confirm keeps several) share it and
// only the type it was stored as reads it back.

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace sekisho::policy {

// One parsed value: make_extension(T) of a plugin's own type, or empty (nothing usable).
using Extension = std::any;

template <typename T>
Extension make_extension(T value) {
  return std::make_shared<const T>(std::move(value));
}

class Extensions {
 public:
  // Keeps `value` under `key` (a plugin's section or clause key); an empty value is
  // not kept.
  void set(std::string_view key, Extension value) {
    if (value.has_value()) {
      values_.insert_or_assign(std::string(key), std::move(value));
    }
  }

  bool contains(std::string_view key) const { return values_.find(key) != values_.end(); }

  // The value under `key`, if there is one and it was stored as a T.
  template <typename T>
  const T* find(std::string_view key) const {
    auto it = values_.find(key);
    if (it == values_.end()) {
      return nullptr;
    }
    const auto* stored = std::any_cast<std::shared_ptr<const T>>(&it->second);
    return stored ? stored->get() : nullptr;
  }

 private:
  std::map<std::string, Extension, std::less<>> values_;
};

}  // namespace sekisho::policy
