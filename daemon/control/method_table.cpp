#include "daemon/control/method_table.hpp"

#include <stdexcept>

namespace sekisho::control {

void MethodTable::bind(const MethodInfo& method, Handler handler) {
  const MethodInfo* known = find_method(method.name);
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
  for (const MethodInfo& method : methods()) {
    if (!find(method.name)) {
      problems.push_back("control method '" + std::string(method.name) + "' has no handler");
    }
  }
  return problems;
}

const MethodTable::Entry* MethodTable::find(std::string_view name) const {
  auto found = entries_.find(name);
  return found == entries_.end() ? nullptr : &found->second;
}

}  // namespace sekisho::control
