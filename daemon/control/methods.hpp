#pragma once
// Every method of the control socket and the least role that may call it. sekishod
// checks each request against this table; `sekishoctl methods` prints it; the role
// tests iterate over it, so a method cannot be added without its role.

#include <span>
#include <string_view>

#include "daemon/control/roles.hpp"

namespace sekisho::control {

struct MethodInfo {
  std::string_view name;
  Role least_role;
  std::string_view summary;
};

std::span<const MethodInfo> methods();
const MethodInfo* find_method(std::string_view name);

}  // namespace sekisho::control
