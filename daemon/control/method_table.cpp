#include "daemon/control/method_table.hpp"

#include <algorithm>
#include <stdexcept>

namespace sekisho::control {

MethodTable::MethodTable() {
  for (const MethodInfo& method : methods()) {
    known_.push_back(&method);
  }
}

MethodTable::MethodTable(std::vector<const MethodInfo*> known) : known_(std::move(known)) {}

void MethodTable::bind(const MethodInfo& method, Handler handler) {
  auto named = std::find_if(known_.begin(), known_.end(),
                            [&](const MethodInfo* info) { return info->name == method.name; });
  const MethodInfo* known = named == known_.end() ? nullptr : *named;
  if (!known || known->least_role != method.least_role || known->summary != method.summary) {
    throw std::logic_error("control method '" + std::string(method.name) +
                           "' is not in the method list as bound");
  }
  if (!handler) {
    throw std::logic_error("control method '" + std::string(method.name) + "' bound to nothing");
  }
  if (!entries_.emplace(std::string(method.name), Entry{known, std::move(handler)}).second) {
    throw std::logic_error("control method '" + std::string(method.name) + "' bound twice");
  }
}

std::vector<std::string> MethodTable::check() const {
  std::vector<std::string> problems;
  for (const MethodInfo* method : known_) {
    if (!find(method->name)) {
      problems.push_back("control method '" + std::string(method->name) + "' has no handler");
    }
  }
  return problems;
}

const MethodTable::Entry* MethodTable::find(std::string_view name) const {
  auto found = entries_.find(name);
  return found == entries_.end() ? nullptr : &found->second;
}

}  // namespace sekisho::control
