#include "daemon/control/roles.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <grp.h>
#include <pwd.h>

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

// The passwd entry of `uid`: its name and primary gid; nullopt when it has none.
std::optional<std::pair<std::string, gid_t>> account_of(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return std::make_pair(std::string(found->pw_name), found->pw_gid);
}

// The primary gid and every group that lists `user` as a member.
std::vector<gid_t> groups_of(const std::string& user, gid_t primary) {
  std::vector<gid_t> groups(32);
  for (int attempt = 0; attempt < 4; ++attempt) {
    int count = static_cast<int>(groups.size());
    if (getgrouplist(user.c_str(), primary, groups.data(), &count) >= 0) {
      groups.resize(static_cast<std::size_t>(count));
      return groups;
    }
    // Too small: `count` says how many there are (they may grow between two calls).
    groups.resize(static_cast<std::size_t>(std::max(count, 1)) * 2);
  }
  return {primary};
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

Identity identity_of(uid_t uid) {
  std::optional<std::pair<std::string, gid_t>> account = account_of(uid);
  if (uid == 0) {
    return {account ? account->first : "root", Role::Admin};
  }
  if (!account) {
    return {std::to_string(uid), Role::None};
  }
  const std::vector<gid_t> groups = groups_of(account->first, account->second);
  return {account->first, role_of(uid, groups, system_role_groups())};
}

}  // namespace sekisho::control
