// The control socket's connection caps by role, and the bounded cache of who a connecting
// uid is: one local user with a /etc/subuid range connects as up to 65,536 host uids.

#include "daemon/control/admission.hpp"

#include <doctest/doctest.h>

using namespace sekisho::control;
using namespace std::chrono_literals;

namespace {

// How many of `count` connections of `uid` with `role` get a slot; `met`: the cap the
// last refused one met.
std::size_t take_many(ConnectionSlots& slots, uid_t uid, Role role, std::size_t count,
                      std::optional<ConnectionCap>* met = nullptr) {
  std::size_t taken = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::optional<ConnectionCap> cap = slots.take(uid, role);
    if (!cap) {
      ++taken;
    } else if (met) {
      *met = cap;
    }
  }
  return taken;
}

}  // namespace

TEST_CASE("65,536 uids without a role share 32 slots; viewers, operators and root still get in") {
  ConnectionSlots slots(ConnectionCaps{});
  // One attacker as every uid of a subuid range: only 32 connections in all.
  std::size_t taken = 0;
  for (uid_t uid = 100000; uid < 100000 + 65536; ++uid) {
    std::optional<ConnectionCap> cap = slots.take(uid, Role::None);
    if (!cap) {
      ++taken;
    } else {
      CHECK(*cap == ConnectionCap::WithoutRole);
    }
  }
  CHECK(taken == 32);
  CHECK(slots.without_role() == 32);
  CHECK(slots.open() == 32);

  // A viewer holds at most 32.
  std::optional<ConnectionCap> met;
  CHECK(take_many(slots, 1001, Role::Viewer, 40, &met) == 32);
  CHECK(met == ConnectionCap::PerUid);
  // Viewers fill every other slot of the 512 ...
  std::size_t viewers = 32;
  for (uid_t uid = 1002; uid < 1020; ++uid) {
    viewers += take_many(slots, uid, Role::Viewer, 32, &met);
  }
  CHECK(viewers == 512 - 32);
  CHECK(slots.open() == 512);
  CHECK(met == ConnectionCap::All);
  CHECK(slots.take(1030, Role::Viewer) == ConnectionCap::All);
  // ... an operator still gets in, into the 32 reserved for operators and admins ...
  CHECK(take_many(slots, 2001, Role::Operator, 40, &met) == 32);
  CHECK(met == ConnectionCap::PerUid);
  CHECK(slots.open() == 544);
  CHECK(slots.take(2002, Role::Operator) == ConnectionCap::All);
  // ... and root and the admins, into the 32 beyond those, with no cap per uid.
  CHECK(take_many(slots, 0, Role::Admin, 20) == 20);
  CHECK(take_many(slots, 3001, Role::Admin, 20, &met) == 12);
  CHECK(met == ConnectionCap::All);
  CHECK(slots.open() == 576);
  CHECK(slots.take(0, Role::Admin) == ConnectionCap::All);

  // A slot given back is taken by whoever may use it: not by a viewer or a caller without
  // a role while more than 512 are open.
  slots.give_back(1005, Role::Viewer);
  slots.give_back(100000, Role::None);
  CHECK(slots.open() == 574);
  CHECK(slots.without_role() == 31);
  CHECK(slots.take(1005, Role::Viewer) == ConnectionCap::All);
  CHECK(slots.take(100001, Role::None) == ConnectionCap::All);
  CHECK(slots.take(3001, Role::Admin) == std::nullopt);
  CHECK(slots.held_by(3001) == 13);
  CHECK(slots.held_by(1005) == 31);
}

TEST_CASE("callers without a role are refused once they hold their share, before the cap of all") {
  ConnectionCaps caps;
  caps.without_role = 2;
  caps.all = 3;
  ConnectionSlots slots(caps);
  CHECK(slots.take(5000, Role::None) == std::nullopt);
  CHECK(slots.take(5000, Role::None) == std::nullopt);
  CHECK(slots.take(5001, Role::None) == ConnectionCap::WithoutRole);
  CHECK(slots.take(1001, Role::Viewer) == std::nullopt);
  CHECK(slots.take(1002, Role::Viewer) == ConnectionCap::All);
  slots.give_back(5000, Role::None);
  CHECK(slots.take(1002, Role::Viewer) == std::nullopt);
  CHECK(slots.take(5001, Role::None) == ConnectionCap::All);
}

TEST_CASE("who a connecting uid is: once a second per uid, and never more than 4096 uids kept") {
  int lookups = 0;
  IdentityCache cache(
      [&](uid_t uid) {
        ++lookups;
        return Identity{std::to_string(uid), uid == 0 ? Role::Admin : Role::None};
      },
      1000ms);
  const auto start = IdentityCache::Clock::time_point{} + 1h;
  for (int i = 0; i < 100; ++i) {
    CHECK(cache.of(4999, start + 5ms * i).role == Role::None);
  }
  CHECK(lookups == 1);
  CHECK(cache.of(4999, start + 1s).user == "4999");
  CHECK(lookups == 2);
  // A subuid range's worth of uids within a second: each looked up once, few kept.
  std::size_t most = 0;
  for (uid_t uid = 100000; uid < 100000 + 65536; ++uid) {
    cache.of(uid, start + 1s + 10us * (uid - 100000));
    most = std::max(most, cache.size());
  }
  CHECK(lookups == 2 + 65536);
  CHECK(most <= IdentityCache::kMost);
  CHECK(cache.of(0, start + 2s).role == Role::Admin);
}
