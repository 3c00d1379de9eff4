#pragma once
// Which connections the control socket takes. The socket is open to every local user, and
// one user may come as many uids: a user with a /etc/subuid range (Debian's adduser gives
// one) connects from a user namespace as any of 65,536 host uids. So the caps go by role,
// not by uid alone:
// - Callers without a role (no passwd entry, or none of the role groups) may do nothing
//   but be refused: all of them together share one small budget.
// - A uid with a role holds at most `per_uid` (admins: no cap of their own).
// - Everyone together holds at most `all`; beyond it `reserved_for_operators` more for
//   operators and admins (an operator's `link down` gets in while viewers hold every other
//   slot), and beyond those `reserved_for_admins` for uid 0 and admins alone.
// The role is looked up when the uid connects, through a cache that is bounded in size and
// forgets an answer after a while (IdentityCache): a flood of connections from one uid
// costs one lookup a second, one from many uids a lookup each (a uid without a passwd
// entry takes a fraction of a millisecond), never unbounded memory.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string_view>

#include <sys/types.h>

#include "daemon/control/roles.hpp"

namespace sekisho::control {

struct ConnectionCaps {
  std::size_t per_uid = 32;                 // of one uid with a role; admins: none
  std::size_t without_role = 32;            // of every caller without a role together
  std::size_t all = 512;                    // of everyone, before the reserves
  std::size_t reserved_for_operators = 32;  // beyond `all`: operators and admins only
  std::size_t reserved_for_admins = 32;     // beyond those: uid 0 and admins only
};

// Which cap a refused connection met.
enum class ConnectionCap { PerUid, WithoutRole, All };
std::string_view cap_name(ConnectionCap cap);  // "per_uid", "without_role", "all"

// The connections open, by who holds them.
class ConnectionSlots {
 public:
  explicit ConnectionSlots(ConnectionCaps caps) : caps_(caps) {}

  // Takes a slot for a new connection of `uid`, whose role is `role` now; nullopt when
  // taken, else the cap it meets (nothing is taken then).
  std::optional<ConnectionCap> take(uid_t uid, Role role);
  // Gives back a slot take() gave for the same uid and role.
  void give_back(uid_t uid, Role role);

  std::size_t open() const { return open_; }
  std::size_t without_role() const { return without_role_; }
  std::size_t held_by(uid_t uid) const;  // by a uid with a role
  const ConnectionCaps& caps() const { return caps_; }

 private:
  ConnectionCaps caps_;
  std::size_t open_ = 0;
  std::size_t without_role_ = 0;
  std::map<uid_t, std::size_t> per_uid_;  // uids with a role: as many as hold a role
};

// Who a uid is now, as the system's databases say.
using IdentitySource = std::function<Identity(uid_t)>;

// Who a connecting uid is: looked up at most once per `fresh_for` per uid, and at most
// `most` uids remembered (when full, the stale answers go; if none is stale, all go).
class IdentityCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMost = 4096;

  IdentityCache(IdentitySource source, std::chrono::milliseconds fresh_for,
                std::size_t most = kMost)
      : source_(std::move(source)), fresh_for_(fresh_for), most_(most) {}

  const Identity& of(uid_t uid, Clock::time_point now);
  std::size_t size() const { return known_.size(); }

 private:
  struct Known {
    Identity identity;
    Clock::time_point at;
  };
  IdentitySource source_;
  std::chrono::milliseconds fresh_for_;
  std::size_t most_;
  std::map<uid_t, Known> known_;
};

}  // namespace sekisho::control
