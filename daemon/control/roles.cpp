#include "daemon/control/roles.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <grp.h>

namespace sekisho::control {

namespace {

std::optional<gid_t> group_id(const char* name) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(16384);
  if (getgrnam_r(name, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return found->gr_gid;
}

bool holds(const std::vector<gid_t>& groups, const std::optional<gid_t>& gid) {
  return gid && std::find(groups.begin(), groups.end(), *gid) != groups.end();
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::Admin:
      return "admin";
    case Role::Operator:
      return "operator";
    case Role::Viewer:
      return "viewer";
    case Role::None:
      break;
  }
  return "none";
}

std::optional<Role> role_from_name(std::string_view name) {
  for (Role role : {Role::None, Role::Viewer, Role::Operator, Role::Admin}) {
    if (role_name(role) == name) {
      return role;
    }
  }
  return std::nullopt;
}

RoleGroups system_role_groups() {
  return {group_id("sekisho-admin"), group_id("sekisho-operator"), group_id("sekisho-viewer")};
}

Role role_of(uid_t uid, const std::vector<gid_t>& groups, const RoleGroups& role_groups) {
  if (uid == 0) {
    return Role::Admin;
  }
  if (holds(groups, role_groups.admin)) {
    return Role::Admin;
  }
  if (holds(groups, role_groups.operator_)) {
    return Role::Operator;
  }
  if (holds(groups, role_groups.viewer)) {
    return Role::Viewer;
  }
  return Role::None;
}

}  // namespace sekisho::control
