#pragma once
// Roles on the control socket (docs/architecture.md, Conventions): uid 0 is admin; anyone else has
// the highest role among the groups sekisho-admin > sekisho-operator > sekisho-viewer
// that holds their primary or a supplementary group. Roles nest: an admin may do all an
// operator may, an operator all a viewer may. There is no password: the kernel vouches
// for the caller's uid (SO_PEERCRED), and the system's user and group databases say, at
// each request, which groups that uid has. Not the groups the caller's process holds: a
// process keeps its groups after `gpasswd -d`, and SO_PEERGROUPS keeps those it had when
// it connected, but taking a user out of a group must take effect at once.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace sekisho::control {

enum class Role { None = 0, Viewer = 1, Operator = 2, Admin = 3 };

std::string_view role_name(Role role);  // "none", "viewer", "operator", "admin"
std::optional<Role> role_from_name(std::string_view name);

// The gid of each role's group; a group that does not exist grants nothing.
struct RoleGroups {
  std::optional<gid_t> admin;
  std::optional<gid_t> operator_;
  std::optional<gid_t> viewer;
};

// The groups as the system names them (getgrnam: sekisho-admin, sekisho-operator,
// sekisho-viewer), looked up anew on every call, so a group created after the daemon
// started counts.
RoleGroups system_role_groups();

// `groups`: the primary gid and every supplementary gid of the caller.
Role role_of(uid_t uid, const std::vector<gid_t>& groups, const RoleGroups& role_groups);

// Who a uid is now, as the system's databases say.
struct Identity {
  std::string user;  // the uid's name, or the number when it has none
  Role role = Role::None;
};
// Looked up anew on every call: uid 0 is admin; a uid without a passwd entry has no group,
// so no role; otherwise role_of() with its passwd entry's primary gid and the groups that
// list it as a member (getgrouplist).
Identity identity_of(uid_t uid);

}  // namespace sekisho::control
